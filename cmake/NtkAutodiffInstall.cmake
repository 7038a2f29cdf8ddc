# `cmake --install`: the libraries, their headers under the same autodiff/ nn/ ntk/ paths, the
# ntk-kernel tool and the CMake package (find_package(ntk_autodiff) gives ntk_autodiff::autodiff,
# ::nn, ::ntk, and ::data when data/ is built), with the version file.
include(CMakePackageConfigHelpers)
set(NTK_AUTODIFF_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ntk_autodiff)

get_property(ntk_autodiff_libraries GLOBAL PROPERTY NTK_AUTODIFF_LIBRARIES)
install(TARGETS ${ntk_autodiff_libraries} EXPORT ntk_autodiffTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(library ${ntk_autodiff_libraries})
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${library}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${library}
          FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(TARGETS ntk-kernel RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

install(EXPORT ntk_autodiffTargets NAMESPACE ntk_autodiff:: DESTINATION ${NTK_AUTODIFF_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/ntk_autodiffConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/ntk_autodiffConfig.cmake
                              INSTALL_DESTINATION ${NTK_AUTODIFF_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ntk_autodiffConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/ntk_autodiffConfig.cmake ${PROJECT_BINARY_DIR}/ntk_autodiffConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/NtkAutodiffDependencies.cmake
        DESTINATION ${NTK_AUTODIFF_CMAKE_DIR})
