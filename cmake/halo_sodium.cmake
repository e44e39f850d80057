# libsodium (Debian libsodium-dev; libsodium-dev:arm64 for the aarch64 cross build, see
# scripts/deps.sh --ci): message authentication of the socket transports (net/) and SHA-256
# of the results database's provenance hashes (results/sha256.c). Sets HALO_SODIUM_LIB.
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(SODIUM QUIET IMPORTED_TARGET GLOBAL libsodium)
endif()
if(TARGET PkgConfig::SODIUM)
  set(HALO_SODIUM_LIB PkgConfig::SODIUM)
else()
  find_path(HALO_SODIUM_INCLUDE sodium.h)
  find_library(HALO_SODIUM_LIBRARY sodium)
  if(NOT HALO_SODIUM_INCLUDE OR NOT HALO_SODIUM_LIBRARY)
    message(FATAL_ERROR "libsodium not found (Debian: apt-get install libsodium-dev; for the "
                        "aarch64 cross build libsodium-dev:arm64, see scripts/deps.sh --ci)")
  endif()
  add_library(halo_sodium INTERFACE)
  target_include_directories(halo_sodium INTERFACE ${HALO_SODIUM_INCLUDE})
  target_link_libraries(halo_sodium INTERFACE ${HALO_SODIUM_LIBRARY})
  set(HALO_SODIUM_LIB halo_sodium)
endif()
