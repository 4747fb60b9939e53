# What the installed program comes with (man page, shell completions, example configs, systemd
# unit) and how cpack turns an install into a .deb.
#
#   cmake --build build && cpack -G DEB --config build/CPackConfig.cmake -B build
#
# writes build/stubborn_<version>_amd64.deb (component "runtime": the binary and all of the
# below) and, once something is installed with COMPONENT dev (cmake/install.cmake: library,
# headers, CMake package, pkg-config), build/stubborn-dev_<version>_amd64.deb.
include(GNUInstallDirs)

# The manual page, written by hand in roff (docs/stubborn.1), gzipped as Debian wants it.
set(STUBBORN_MAN_PAGE ${PROJECT_BINARY_DIR}/stubborn.1.gz)
add_custom_command(OUTPUT ${STUBBORN_MAN_PAGE}
  COMMAND gzip -9nc ${PROJECT_SOURCE_DIR}/docs/stubborn.1 > ${STUBBORN_MAN_PAGE}
  DEPENDS ${PROJECT_SOURCE_DIR}/docs/stubborn.1
  COMMENT "Compressing the manual page stubborn.1")
add_custom_target(stubborn_man_page ALL DEPENDS ${STUBBORN_MAN_PAGE})

install(FILES ${STUBBORN_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT runtime)
install(FILES deploy/completions/stubborn.bash
  DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME stubborn
  COMPONENT runtime)
install(FILES deploy/completions/_stubborn
  DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions COMPONENT runtime)

# share/doc/stubborn: the reference, the license, and every example config with its bodies.
file(GLOB STUBBORN_EXAMPLE_CONFIGS ${PROJECT_SOURCE_DIR}/configs/*.toml)
# (and the config's JSON Schema, docs/*.schema.json, for editors that use taplo)
file(GLOB STUBBORN_DOCS ${PROJECT_SOURCE_DIR}/docs/*.md ${PROJECT_SOURCE_DIR}/docs/*.schema.json)
install(FILES ${STUBBORN_EXAMPLE_CONFIGS} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
  COMPONENT runtime)
install(DIRECTORY configs/bodies DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples COMPONENT runtime)
install(FILES README.md CHANGELOG.md LICENSE ${STUBBORN_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR}
  COMPONENT runtime)
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR} RENAME copyright COMPONENT runtime)

# The systemd unit, and the config it serves: /etc/stubborn/ when installed under /usr (as the
# .deb is), <prefix>/etc/stubborn/ otherwise, so an install into a private prefix writes nothing
# outside it.
install(FILES deploy/systemd/stubborn.service DESTINATION lib/systemd/system COMPONENT runtime)
install(CODE "
  if(CMAKE_INSTALL_PREFIX MATCHES \"^/usr/?$\")
    set(stubborn_sysconf /etc/stubborn)
  else()
    set(stubborn_sysconf \"\${CMAKE_INSTALL_PREFIX}/etc/stubborn\")
  endif()
  file(INSTALL DESTINATION \"\${stubborn_sysconf}\" TYPE FILE
       FILES \"${PROJECT_SOURCE_DIR}/deploy/etc/stubborn.toml\")
" COMPONENT runtime)

# CPack: one .deb per component that exists.
get_cmake_property(stubborn_components COMPONENTS)
set(CPACK_COMPONENTS_ALL "")
foreach(component runtime dev)
  if(component IN_LIST stubborn_components)
    list(APPEND CPACK_COMPONENTS_ALL ${component})
  endif()
endforeach()
if("dev" IN_LIST CPACK_COMPONENTS_ALL)
  install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/stubborn-dev RENAME copyright
    COMPONENT dev)
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME stubborn)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the stubborn authors")
set(CPACK_PACKAGE_CONTACT "the stubborn authors <stubborn@example.invalid>")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_STUBBORN_STRIP "${CMAKE_STRIP}")
set(CPACK_PRE_BUILD_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/strip_archives.cmake)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME stubborn)
set(CPACK_DEBIAN_RUNTIME_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
  ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
  "scripted HTTP mock and stub server
stubborn answers HTTP/1.1, HTTPS, WebSocket and Server-Sent Events exactly as a TOML config
says: templated replies, sequences, delays, outages, rate limits, faults on the wire, the
statuses a real server derives, and proxy routes that record a real service for replay.
A wrong config is reported as file:line:col and never half-served; an admin API says what
was received. This package has the stubborn command, its manual page, bash and zsh
completion, example configs and a systemd unit serving /etc/stubborn/.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME stubborn-dev)
set(CPACK_DEBIAN_DEV_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "stubborn (= ${PROJECT_VERSION}), libboost-json1.81-dev, libtomlplusplus-dev, libre2-dev, libxml2-dev, libssl-dev, libhiredis-dev")
set(CPACK_DEBIAN_DEV_DESCRIPTION
  "scripted HTTP mock and stub server: C++ library and CMake package
The stubborn_core static library and its headers, to run a stubborn server inside a C++
test (stubborn::test_server), with a CMake package (find_package(stubborn CONFIG) gives
stubborn::core) and a pkg-config file (stubborn.pc).")

include(CPack)
