/*
 * libbrig_zygote.so: what the Python zygote (guest/python/zygote.py) loads
 * with ctypes to serve spawn requests from inside its interpreter.
 */
#include "jail/zygote.h"

int brig_zygote_serve(int sock);

/* Returns 0 in a guest; the zygote itself never returns. */
int brig_zygote_serve(int sock)
{
	return zygote_serve(sock, NULL);
}
