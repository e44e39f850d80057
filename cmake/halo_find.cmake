# halo_find_library(VAR PKG HEADER LIB TARGET NAME DEB): a system library as a target name in
# VAR (in the caller's scope). pkg-config's imported target when pkg-config knows PKG; else an
# INTERFACE target TARGET from find_path(HEADER) and find_library(LIB). When neither finds it,
# configuration stops naming the library (NAME) and its Debian package (DEB, also for the
# aarch64 cross build). Used for libsodium (cmake/halo_sodium.cmake) and libyaml
# (core/CMakeLists.txt); GSL and GLPK need more than one library or no pkg-config and are
# found where they are used.
include_guard(GLOBAL)

function(halo_find_library var pkg header lib target name deb)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(HALO_PC_${lib} QUIET IMPORTED_TARGET GLOBAL ${pkg})
  endif()
  if(TARGET PkgConfig::HALO_PC_${lib})
    set(${var} PkgConfig::HALO_PC_${lib} PARENT_SCOPE)
    return()
  endif()
  find_path(HALO_${lib}_INCLUDE ${header})
  find_library(HALO_${lib}_LIBRARY ${lib})
  if(NOT HALO_${lib}_INCLUDE OR NOT HALO_${lib}_LIBRARY)
    message(FATAL_ERROR "${name} not found (Debian: apt-get install ${deb}; for the aarch64 "
                        "cross build ${deb}:arm64, see scripts/deps.sh --ci)")
  endif()
  add_library(${target} INTERFACE)
  target_include_directories(${target} INTERFACE ${HALO_${lib}_INCLUDE})
  target_link_libraries(${target} INTERFACE ${HALO_${lib}_LIBRARY})
  set(${var} ${target} PARENT_SCOPE)
endfunction()
