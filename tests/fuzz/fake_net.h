/* The never-reached network of fake_net.c. */
#ifndef BRIG_FUZZ_FAKE_NET_H
#define BRIG_FUZZ_FAKE_NET_H

/* How many times socket() was called: a connection was about to be made. */
extern int fake_net_sockets;

#endif
