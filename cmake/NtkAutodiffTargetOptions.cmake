# How every library of the project is built and what it hands to the code that links it.
# Anything that changes types or the ABI (XTENSOR_USE_XSIMD, -march, which set the alignment of
# xtensor's allocator and so autodiff::Array's type) is a PUBLIC usage requirement of the
# `autodiff` target, so a user's target compiles the headers exactly as the library did, through
# add_subdirectory or the installed package alike.

include(GNUInstallDirs)

macro(ntk_autodiff_require name debian_package)
  find_package(${name} ${ARGN} QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR "${name} not found: install the Debian package '${debian_package}' "
                        "(./test.sh installs every dependency)")
  endif()
endmacro()
include(NtkAutodiffDependencies)
# xtensor's elementwise math (exp, tanh, sin, erf, ...) on SIMD registers through xsimd; optional.
find_package(xsimd QUIET)
if(xsimd_FOUND)
  set(NTK_AUTODIFF_WITH_XSIMD ON)
else()
  set(NTK_AUTODIFF_WITH_XSIMD OFF)
endif()

if(PROJECT_IS_TOP_LEVEL)
  add_compile_options(-Wall -Wextra -Wpedantic)
endif()

# Portable by default: the libraries run on any x86-64 CPU. The hot kernels that gain most from
# AVX2 and FMA (the relu/erf kernel rows, the Gram-matrix axpy) pick them at run time already.
# -DNTK_AVX2=ON compiles everything for x86-64-v3 (AVX2, FMA) when the building CPU has it: the
# small kernels of a training step run about twice as fast, the binaries no longer run on CPUs
# without AVX2, and results can differ in the last bits (fused multiply-adds). The flag is then a
# PUBLIC compile option of `autodiff`, recorded in the installed package, so users' code gets it.
option(NTK_AVX2 "compile for x86-64-v3 (AVX2, FMA; not portable) when the building CPU supports it" OFF)
set(NTK_AUTODIFF_ARCH_FLAGS "")
if(NTK_AVX2 AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  include(CheckCXXSourceRuns)
  set(CMAKE_REQUIRED_FLAGS "-march=x86-64-v3")
  check_cxx_source_runs("int main() { return __builtin_cpu_supports(\"avx2\") && __builtin_cpu_supports(\"fma\") ? 0 : 1; }"
                        NTK_CPU_HAS_AVX2)
  unset(CMAKE_REQUIRED_FLAGS)
  if(NTK_CPU_HAS_AVX2)
    set(NTK_AUTODIFF_ARCH_FLAGS -march=x86-64-v3)
  endif()
endif()

# ntk_autodiff_library(name): the settings every library shares; exported as ntk_autodiff::name.
function(ntk_autodiff_library name)
  add_library(ntk_autodiff::${name} ALIAS ${name})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${name} POSITION_INDEPENDENT_CODE ON
                                           OUTPUT_NAME ntk_autodiff_${name})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>
                                            $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_compile_features(${name} PUBLIC cxx_std_20)
  # A consumer's build without a build type would build these unoptimized: -O2 there.
  target_compile_options(${name} PRIVATE $<$<CONFIG:>:-O2>)
  set_property(GLOBAL APPEND PROPERTY NTK_AUTODIFF_LIBRARIES ${name})
endfunction()
