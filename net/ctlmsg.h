/*
 * The prefix that the socket cluster's control messages start with (JOIN, PEERS, PACK and
 * PROBE): four magic bytes naming the message, then its format version as a little-endian
 * u16, then the message's own fields from byte HALO_NET_CTLMSG_HEADER_BYTES. One codec for
 * that prefix, so that every message writes and checks it the same way.
 *
 * Not here: the messages' fields (net/join.h, net/mesh.h, net/probe.h); JACK, whose magic is
 * followed by a status instead of a version; frames (net/frame.h), which carry the messages.
 */
#ifndef HALO_NET_CTLMSG_H
#define HALO_NET_CTLMSG_H

#include <stddef.h>
#include <stdint.h>

#define HALO_NET_CTLMSG_HEADER_BYTES 6

/*
 * Starts a control message of msg_bytes (>= HALO_NET_CTLMSG_HEADER_BYTES) at p: zeroes
 * p[0..msg_bytes), so that padding and unused fields travel as zeros, then writes
 * magic[0..4) and `version`. The caller writes the rest.
 */
void halo_net_ctlmsg_begin(unsigned char *p, size_t msg_bytes, const unsigned char magic[4],
                           uint16_t version);

/*
 * 1 if p starts with magic[0..4) and `version`, 0 otherwise. p must hold at least
 * HALO_NET_CTLMSG_HEADER_BYTES: the caller checks the message's length first.
 */
int halo_net_ctlmsg_check(const unsigned char *p, const unsigned char magic[4], uint16_t version);

#endif
