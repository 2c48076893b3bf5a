// Allocator settings for training processes.
#pragma once

namespace vmle::trainer {

// Keeps freed memory in the process for reuse instead of returning it to the system.
// glibc serves blocks above 128 KiB with mmap and unmaps them on free, so every
// training step page-faults its activations in again: a tenth of a SASRec epoch on
// CPU. Raising the mmap and trim thresholds keeps those blocks in the heap. Call once
// at start-up, before the first tensor; a no-op where the C library is not glibc.
void KeepFreedMemoryForReuse();

}  // namespace vmle::trainer
