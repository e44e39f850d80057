/*
 * The control messages' magic-and-version prefix (net/ctlmsg.h).
 */
#include "net/ctlmsg.h"

#include "core/bytes.h"

#include <string.h>

void halo_net_ctlmsg_begin(unsigned char *p, size_t msg_bytes, const unsigned char magic[4],
                           uint16_t version) {
    memset(p, 0, msg_bytes);
    memcpy(p, magic, 4);
    halo_put_u16(p + 4, version);
}

int halo_net_ctlmsg_check(const unsigned char *p, const unsigned char magic[4], uint16_t version) {
    return memcmp(p, magic, 4) == 0 && halo_get_u16(p + 4) == version;
}
