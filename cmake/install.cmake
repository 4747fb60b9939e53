# What `cmake --install` puts in place for people who build against stubborn: the program, the
# library, its public headers, a CMake package (find_package(stubborn CONFIG) -> stubborn::core)
# and stubborn.pc for pkg-config. Everything is relative to the prefix, so an installed tree
# can be moved. Components: `runtime` (the program) and `dev` (the rest), for the packages.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS stubborn RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)

install(TARGETS stubborn_core EXPORT stubborn-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/stubborn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

set(stubborn_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/stubborn)
install(EXPORT stubborn-targets NAMESPACE stubborn:: FILE stubborn-targets.cmake
  DESTINATION ${stubborn_cmake_dir} COMPONENT dev)
configure_package_config_file(cmake/stubborn-config.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/stubborn-config.cmake INSTALL_DESTINATION ${stubborn_cmake_dir})
# 0.x: a minor version may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/stubborn-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/stubborn-config.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/stubborn-config-version.cmake
  DESTINATION ${stubborn_cmake_dir} COMPONENT dev)

# pkg-config: the prefix is found from the .pc file's own place (${pcfiledir}).
set(stubborn_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH stubborn_pc_to_prefix ${CMAKE_INSTALL_PREFIX}/${stubborn_pc_dir}
     ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" stubborn_pc_to_prefix "${stubborn_pc_to_prefix}")
configure_file(cmake/stubborn.pc.in ${CMAKE_CURRENT_BINARY_DIR}/stubborn.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/stubborn.pc DESTINATION ${stubborn_pc_dir} COMPONENT dev)
