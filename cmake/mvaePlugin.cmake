# mvaePlugin.cmake — the CMake function that builds an mvae plugin. The same file serves the
# source tree (plugins/CMakeLists.txt includes it) and projects outside it (the installed package
# mvaeConfig.cmake includes it, so `find_package(mvae)` provides the function).
#
#   mvae_add_plugin(<kind> <name> SOURCES a.c [b.c ...]
#                   [LIBS lib ...]                  # extra libraries for the module (PRIVATE)
#                   [OUTPUT_DIRECTORY dir]          # where the .so is built
#                   [INSTALL_DESTINATION dir | NO_INSTALL]
#                   [STATIC])                       # also build <target>_static from the sources
#
# builds the dlopen'able module mvae_<kind>_<name>.so (CMake target mvae_<kind>_<name>): compiled
# with MVAE_PLUGIN_MODULE defined (so MVAE_PLUGIN_DEFINE exports `mvae_plugin_descriptor`), no
# "lib" prefix, hidden visibility (only the descriptor is exported) and linked to mvae::mvae.
#
# Defaults:
#   OUTPUT_DIRECTORY     ${MVAE_PLUGIN_BUILD_DIR} if set, else ${CMAKE_BINARY_DIR}/plugins — a
#                        directory holding only plugins, ready for MVAE_PLUGIN_PATH;
#   INSTALL_DESTINATION  ${CMAKE_INSTALL_LIBDIR}/mvae/plugins under the project's own install
#                        prefix (the directory mvae searches when installed to the same prefix).
#                        Installing into an installed mvae's own plugin directory: pass
#                        INSTALL_DESTINATION ${MVAE_PLUGIN_DIR} (set by find_package(mvae)).
#   STATIC               on when MVAE_PLUGIN_STATIC_TWIN is true (the source tree's tests link
#                        the static twins and register the descriptors with mvae_registry_add).
include_guard(GLOBAL)
include(GNUInstallDirs)

function(mvae_add_plugin kind name)
  cmake_parse_arguments(P "NO_INSTALL;STATIC" "OUTPUT_DIRECTORY;INSTALL_DESTINATION" "SOURCES;LIBS" ${ARGN})
  set(kinds dataset encoder decoder fusion transform classifier)
  if(NOT kind IN_LIST kinds)
    message(FATAL_ERROR "mvae_add_plugin: unknown kind '${kind}': use one of ${kinds}")
  endif()
  if(NOT name MATCHES "^[a-z0-9_]+$")
    message(FATAL_ERROR "mvae_add_plugin: plugin name '${name}' must be lower-case letters, digits and '_'")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "mvae_add_plugin(${kind} ${name}): no SOURCES given")
  endif()
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "mvae_add_plugin(${kind} ${name}): unexpected arguments '${P_UNPARSED_ARGUMENTS}'")
  endif()
  if(NOT TARGET mvae::mvae)
    message(FATAL_ERROR "mvae_add_plugin: target mvae::mvae not found (call find_package(mvae) first)")
  endif()
  if(NOT P_OUTPUT_DIRECTORY)
    if(MVAE_PLUGIN_BUILD_DIR)
      set(P_OUTPUT_DIRECTORY ${MVAE_PLUGIN_BUILD_DIR})
    else()
      set(P_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/plugins)
    endif()
  endif()
  if(NOT P_INSTALL_DESTINATION)
    set(P_INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/mvae/plugins)
  endif()

  set(target mvae_${kind}_${name})
  add_library(${target} MODULE ${P_SOURCES})
  set_property(GLOBAL APPEND PROPERTY MVAE_PLUGIN_TARGETS ${target})
  target_compile_definitions(${target} PRIVATE MVAE_PLUGIN_MODULE)
  target_link_libraries(${target} PRIVATE mvae::mvae ${P_LIBS})
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY ${P_OUTPUT_DIRECTORY}
    C_VISIBILITY_PRESET hidden
    # <libdir>/mvae/plugins/x.so finds <libdir>/libmvae.so when loaded outside the mvae command
    INSTALL_RPATH "$ORIGIN/../..")
  if(NOT P_NO_INSTALL)
    install(TARGETS ${target} LIBRARY DESTINATION ${P_INSTALL_DESTINATION})
  endif()
  if(P_STATIC OR MVAE_PLUGIN_STATIC_TWIN)
    add_library(${target}_static STATIC ${P_SOURCES})
    target_link_libraries(${target}_static PUBLIC mvae::mvae ${P_LIBS})
  endif()
endfunction()
