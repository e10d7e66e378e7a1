# mvaeInstall.cmake — what `cmake --install` puts next to libmvae, the headers, the command and
# the plugins so that other projects can build plugins against an installed mvae:
#   <libdir>/cmake/mvae/   mvaeConfig.cmake, mvaeConfigVersion.cmake, mvaeTargets*.cmake,
#                          mvaePlugin.cmake    -> find_package(mvae): mvae::mvae, mvae_add_plugin()
#   <libdir>/pkgconfig/    mvae.pc             -> pkg-config --cflags --libs mvae; plugindir
# Both are relocatable: they locate the prefix from their own path, so `cmake --install build
# --prefix /somewhere/else` works.
include(CMakePackageConfigHelpers)

# the plugin ABI, read from the header so the two cannot disagree
file(STRINGS ${PROJECT_SOURCE_DIR}/core/include/mvae/plugin.h mvae_abi_lines
  REGEX "^#define MVAE_ABI_(MAJOR|MINOR) [0-9]+")
foreach(line ${mvae_abi_lines})
  string(REGEX REPLACE "^#define (MVAE_ABI_[A-Z]+) ([0-9]+).*" "\\1;\\2" kv "${line}")
  list(GET kv 0 k)
  list(GET kv 1 v)
  set(${k} ${v})
endforeach()

set(MVAE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mvae)
set(MVAE_PLUGIN_INSTALL_REL ${CMAKE_INSTALL_LIBDIR}/mvae/plugins)

install(EXPORT mvaeTargets NAMESPACE mvae:: DESTINATION ${MVAE_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/mvaeConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/mvaeConfig.cmake
  INSTALL_DESTINATION ${MVAE_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR MVAE_PLUGIN_INSTALL_REL)
# 0.x: a minor release may change the plugin ABI, so only the same major.minor is compatible
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/mvaeConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/cmake/mvaeConfig.cmake
  ${PROJECT_BINARY_DIR}/cmake/mvaeConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/mvaePlugin.cmake
  DESTINATION ${MVAE_CMAKE_DIR})

# pkg-config: prefix relative to the .pc file (${pcfiledir}) unless the libdir is absolute
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(MVAE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(MVAE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH mvae_pc_up /mvae_prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /mvae_prefix)
  string(REGEX REPLACE "/$" "" mvae_pc_up "${mvae_pc_up}")
  set(MVAE_PC_PREFIX "\${pcfiledir}/${mvae_pc_up}")
  set(MVAE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(MVAE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(MVAE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/mvae.pc.in ${PROJECT_BINARY_DIR}/cmake/mvae.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/cmake/mvae.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
