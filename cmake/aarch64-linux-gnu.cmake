# Cross toolchain for 64-bit Arm Linux with Debian's gcc-aarch64-linux-gnu and
# libc6-dev-arm64-cross (scripts/deps.sh --ci installs both, plus qemu-user).
# ctest runs every test binary through qemu-user, so `ctest --preset aarch64` works on an
# x86-64 host with the arm64 multiarch C library (libc6:arm64) as the runtime.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(HALO_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${HALO_CROSS_TRIPLE}-gcc)
set(CMAKE_AR ${HALO_CROSS_TRIPLE}-ar CACHE FILEPATH "Archiver")
set(CMAKE_RANLIB ${HALO_CROSS_TRIPLE}-ranlib CACHE FILEPATH "Ranlib")
set(CMAKE_STRIP ${HALO_CROSS_TRIPLE}-strip CACHE FILEPATH "Strip")

# Debian's cross sysroot for libc, plus the arm64 multiarch libraries (libyaml-dev:arm64,
# libsqlite3-dev:arm64, ...) that scripts/deps.sh --ci installs under /usr/lib/aarch64-linux-gnu
# with their architecture-independent headers in /usr/include.
set(HALO_CROSS_SYSROOT /usr/${HALO_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH ${HALO_CROSS_SYSROOT} /)
set(CMAKE_LIBRARY_ARCHITECTURE ${HALO_CROSS_TRIPLE})
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/${HALO_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Run target binaries (tests, try_run) under qemu-user with the multiarch runtime: the
# binary's interpreter /lib/ld-linux-aarch64.so.1 and libc from libc6:arm64, which the arm64
# -dev packages pull in. Not `-L ${HALO_CROSS_SYSROOT}`: that loader (libc6-arm64-cross)
# found libc.so.6 in the multiarch directory first, a different build of glibc, and the
# mismatched pair spun forever in the first pthread_create (the "slow thread pool under
# qemu" of earlier notes: a one-line pthread program hung the same way).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
