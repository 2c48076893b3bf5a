# Compiler setup: ccache when present, warnings for our own targets.

find_program(VMLE_CCACHE ccache)
if(VMLE_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  # pch_defines/time_macros let ccache cache translation units that use the torch
  # precompiled header; BASEDIR/NOHASHDIR let a fresh clone in another folder (as CI
  # makes) hit the cache in $HOME.
  set(_launcher ${CMAKE_COMMAND} -E env
      "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
      "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" "CCACHE_NOHASHDIR=true"
      ${VMLE_CCACHE})
  set(CMAKE_C_COMPILER_LAUNCHER ${_launcher})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${_launcher})
endif()

# Warnings (and -Werror) for a target of ours; third-party headers come in as SYSTEM.
function(vmle_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter)
  if(VMLE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# Precompiled torch headers, shared by every target that includes torch.
function(vmle_use_torch_pch target)
  if(NOT TARGET vmle_torch_pch)
    add_library(vmle_torch_pch STATIC ${VMLE_SOURCE_ROOT}/cmake/torch_pch.cc)
    target_link_libraries(vmle_torch_pch PUBLIC ${TORCH_LIBRARIES})
    target_precompile_headers(vmle_torch_pch PUBLIC <torch/torch.h>)
  endif()
  target_link_libraries(${target} PRIVATE vmle_torch_pch)
  target_precompile_headers(${target} REUSE_FROM vmle_torch_pch)
endfunction()
