/*
 * The ns-3 backend when halo is built without ns-3 (HALO_NS3=OFF, or AUTO without
 * libns3-dev): every constructor call fails with a message that says how to get it.
 */
#include "sim/ns3/ns3_shim.h"

#include <string.h>

int halo_ns3_available(void) {
    return 0;
}

const char *halo_ns3_version(void) {
    return "none";
}

int halo_ns3_new(halo_transport **out, const halo_sim_config *cfg, const halo_ns3_settings *ns3,
                 halo_err *err) {
    (void)cfg;
    (void)ns3;
    *out = NULL;
    return HALO_FAIL(err, HALO_ERR_ARG,
                     "engine ns3: halo was built without ns-3 (install libns3-dev and configure "
                     "with -DHALO_NS3=ON)");
}

void halo_ns3_get_stats(halo_transport *t, int node, halo_sim_node_stats *out) {
    (void)t;
    (void)node;
    memset(out, 0, sizeof *out);
}

int halo_ns3_owns(const halo_transport *t) {
    (void)t;
    return 0;
}

uint64_t halo_ns3_events(halo_transport *t) {
    (void)t;
    return 0;
}
