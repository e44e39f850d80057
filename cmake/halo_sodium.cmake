# libsodium (Debian libsodium-dev; libsodium-dev:arm64 for the aarch64 cross build, see
# scripts/deps.sh --ci): message authentication of the socket transports (net/) and SHA-256
# of the results database's provenance hashes (results/sha256.c). Sets HALO_SODIUM_LIB.
include(${CMAKE_CURRENT_LIST_DIR}/halo_find.cmake)
halo_find_library(HALO_SODIUM_LIB libsodium sodium.h sodium halo_sodium libsodium libsodium-dev)
