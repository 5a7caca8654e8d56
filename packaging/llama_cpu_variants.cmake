# Included into llama-cpp-python's CMake project (CMAKE_PROJECT_INCLUDE, set by
# packaging/llama_wheel.py for the bundle profiles). llama-cpp-python installs the libraries
# of a default build only; a GGML_CPU_ALL_VARIANTS build makes one CPU backend per
# instruction-set level (ggml-cpu-haswell, ggml-cpu-zen4, ...) that it would leave out.
# This installs them beside libggml-base in llama_cpp/lib, where engine/cpu_backend.py
# finds, probes and loads one at run time. The call is deferred to the end of the
# top-level directory, when llama.cpp's targets exist.
function(_mingjing_install_module target what)
  if(NOT TARGET ${target})
    return()
  endif()
  if(APPLE)
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "@loader_path")
  else()
    set_target_properties(${target} PROPERTIES INSTALL_RPATH "$ORIGIN")
  endif()
  install(TARGETS ${target}
          LIBRARY DESTINATION ${SKBUILD_PLATLIB_DIR}/llama_cpp/lib
          RUNTIME DESTINATION ${SKBUILD_PLATLIB_DIR}/llama_cpp/lib)
  message(STATUS "mingjing: installing ${what}")
endfunction()

function(_mingjing_install_cpu_variants)
  foreach(variant x64 sse42 sandybridge ivybridge piledriver haswell skylakex cannonlake
                  cascadelake icelake cooperlake zen4 alderlake sapphirerapids)
    _mingjing_install_module(ggml-cpu-${variant} "CPU variant ${variant}")
  endforeach()
  # A GPU backend of the same build (bundle-vulkan) is a loadable library too, loaded by
  # engine/cpu_backend.py beside the CPU variant.
  foreach(backend vulkan cuda metal)
    _mingjing_install_module(ggml-${backend} "GPU backend ${backend}")
  endforeach()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL _mingjing_install_cpu_variants)
