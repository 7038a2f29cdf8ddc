# install.consumer (cmake -P): what a new user does with the library, checked end to end.
#  1. README.md quotes this folder's CMakeLists.txt and tour.cpp verbatim (the blocks that follow
#     the markers "<!-- tests/consumer/NAME -->"): they must not drift apart.
#  2. `cmake --install` of the build into a fresh prefix; the consumer project (find_package,
#     ntk_autodiff::autodiff and ::ntk) configured, built and run against it; the installed
#     ntk-kernel and, when built, the installed Python module run too.
# Variables: SOURCE_DIR, BUILD_DIR, WORK_DIR; optional PYTHON, CXX_LAUNCHER.
foreach(var SOURCE_DIR BUILD_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "check_install.cmake needs -D${var}=...")
  endif()
endforeach()
set(consumer ${SOURCE_DIR}/tests/consumer)

# 1. README blocks == files.
file(READ ${SOURCE_DIR}/README.md readme)
foreach(name CMakeLists.txt tour.cpp)
  string(FIND "${readme}" "<!-- tests/consumer/${name} -->\n" marker)
  if(marker EQUAL -1)
    message(FATAL_ERROR "README.md has no block marked <!-- tests/consumer/${name} -->")
  endif()
  string(SUBSTRING "${readme}" ${marker} -1 rest)
  string(FIND "${rest}" "```" open)
  string(SUBSTRING "${rest}" ${open} -1 rest)
  string(FIND "${rest}" "\n" eol)
  math(EXPR start "${eol} + 1")
  string(SUBSTRING "${rest}" ${start} -1 rest)
  string(FIND "${rest}" "```" close)
  string(SUBSTRING "${rest}" 0 ${close} block)
  file(READ ${consumer}/${name} actual)
  if(NOT block STREQUAL actual)
    file(WRITE ${WORK_DIR}/readme_${name} "${block}")
    message(FATAL_ERROR "README.md's block for tests/consumer/${name} differs from the file "
                        "(README's version written to ${WORK_DIR}/readme_${name})")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${ARGN}:\n${out}")
  set(output "${out}" PARENT_SCOPE)
endfunction()

# 2. Install, then build and run the consumer against the prefix.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(installed include/autodiff/autodiff.hpp include/nn/nn.hpp include/ntk/kappa.hpp bin/ntk-kernel
                  lib/cmake/ntk_autodiff/ntk_autodiffConfig.cmake lib/cmake/ntk_autodiff/ntk_autodiffConfigVersion.cmake)
  if(NOT EXISTS ${prefix}/${installed})
    message(FATAL_ERROR "cmake --install did not install ${installed}")
  endif()
endforeach()
file(READ ${prefix}/lib/cmake/ntk_autodiff/ntk_autodiffTargets.cmake exported)
if(EXISTS /usr/include/xsimd/xsimd.hpp AND NOT exported MATCHES "XTENSOR_USE_XSIMD")
  message(FATAL_ERROR "the installed ntk_autodiff::autodiff lacks its usage requirement XTENSOR_USE_XSIMD")
endif()
set(configure_args -S ${consumer} -B ${WORK_DIR}/build -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
if(CXX_LAUNCHER)
  list(APPEND configure_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CXX_LAUNCHER})
endif()
run(${CMAKE_COMMAND} ${configure_args})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j2)
run(${WORK_DIR}/build/tour)
if(NOT output MATCHES "f\\(w0\\) = 0, f'\\(w0\\) = +1\\.70" OR NOT output MATCHES "passed")
  message(FATAL_ERROR "tour printed something unexpected:\n${output}")
endif()
run(${WORK_DIR}/build/kernels)
run(${prefix}/bin/ntk-kernel --help)

# The installed Python module, found by the interpreter under the prefix.
if(PYTHON)
  file(GLOB_RECURSE module ${prefix}/ntk_autodiff*.so)
  if(NOT module)
    message(FATAL_ERROR "cmake --install did not install the Python module")
  endif()
  get_filename_component(module_dir ${module} DIRECTORY)
  file(WRITE ${WORK_DIR}/use_module.py
       "import numpy as np\nimport ntk_autodiff as nt\nprint(nt.__file__)\n"
       "net = nt.MLP(hidden=[8])\nprint(nt.empirical_ntk(net, net.init(0), np.ones((2, 1))))\n")
  run(${CMAKE_COMMAND} -E env PYTHONPATH=${module_dir} ${PYTHON} ${WORK_DIR}/use_module.py)
  if(NOT output MATCHES "${prefix}")
    message(FATAL_ERROR "the Python module was not imported from the prefix:\n${output}")
  endif()
endif()
