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
                           .quickack = 0,
                           .tick_ns = 4000000,
                           .cc = HALO_TCP_CC_CUBIC,
                           .rx_batch_ns = 20000,
                           .comp_sack_delay_ns = 1000000,
                           .comp_sack_slack_ns = 100000,
                           .comp_sack_nr = 44,
                           .slow_start_after_idle = 1};
}
