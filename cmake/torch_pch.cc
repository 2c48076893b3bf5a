// Anchor translation unit for the precompiled torch header (see VmleCompiler.cmake).
#include <torch/torch.h>
