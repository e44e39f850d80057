/*
 * Delivery settings (core/delivery.h).
 */
#include "core/delivery.h"

void halo_tcp_config_linux(halo_tcp_config *c) {
    *c = (halo_tcp_config){.init_cwnd = 10,
                           .rto_min_ns = 200000000,
                           .rto_max_ns = 120000000000ull,
                           .rto_init_ns = 1000000000,
                           .delack_ns = 40000000,
                           .tlp = 1,
                           .dupack_threshold = 3,
                           .quickack_segments = 16,
                           .quickack = 1,
                           .tick_ns = 4000000};
}
