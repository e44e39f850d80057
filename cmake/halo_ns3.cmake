# The optional ns-3 backend (sim/ns3/). HALO_NS3=AUTO (default) builds it when libns3-dev is
# found, ON requires it, OFF never builds it. Debian's ns-3 CMake package is not used: its
# find_package(ns3) ends configure with a fatal error unless the separate `ns3` package is
# installed, and its targets carry include paths that may not exist (../shared/notes/ns3.md).
# Headers and libraries are found one by one instead. Without ns-3, halo_ns3 is a C stub
# whose constructor returns a clear error, so the rest of the project needs no #ifdef.
set(HALO_NS3 AUTO CACHE STRING "Build the ns-3 backend: AUTO | ON | OFF")
set_property(CACHE HALO_NS3 PROPERTY STRINGS AUTO ON OFF)

set(HALO_NS3_FOUND OFF)
if(NOT HALO_NS3 STREQUAL "OFF" AND NOT CMAKE_CROSSCOMPILING)
  find_path(HALO_NS3_INCLUDE_DIR ns3/core-module.h)
  set(_halo_ns3_libs "")
  set(_halo_ns3_missing "")
  foreach(m point-to-point internet traffic-control network core)
    string(REPLACE "-" "_" _v "${m}")
    # Debian names the libraries libns3-<module>.so; upstream libns3.37-<module>-default.so.
    find_library(HALO_NS3_LIB_${_v} NAMES ns3-${m} ns3.37-${m}-default ns3.37-${m})
    if(HALO_NS3_LIB_${_v})
      list(APPEND _halo_ns3_libs ${HALO_NS3_LIB_${_v}})
    else()
      list(APPEND _halo_ns3_missing ${m})
    endif()
  endforeach()
  if(HALO_NS3_INCLUDE_DIR AND NOT _halo_ns3_missing)
    set(HALO_NS3_FOUND ON)
    set(HALO_NS3_LIBRARIES ${_halo_ns3_libs})
  endif()
endif()

if(HALO_NS3 STREQUAL "ON" AND NOT HALO_NS3_FOUND)
  message(FATAL_ERROR "HALO_NS3=ON but ns-3 was not found (headers: '${HALO_NS3_INCLUDE_DIR}', "
                      "missing modules: ${_halo_ns3_missing}); Debian: apt-get install libns3-dev")
endif()
if(HALO_NS3_FOUND)
  enable_language(CXX)
  set(CMAKE_CXX_STANDARD 17)
  set(CMAKE_CXX_STANDARD_REQUIRED ON)
  set(CMAKE_CXX_EXTENSIONS OFF)
  message(STATUS "ns-3 backend: ON (${HALO_NS3_INCLUDE_DIR})")
else()
  message(STATUS "ns-3 backend: OFF (HALO_NS3=${HALO_NS3}; halo sim --engine ns3 will say so)")
endif()
