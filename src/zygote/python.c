/*
 * libbrig_zygote.so: what the Python zygote (guest/python/zygote.py) loads
 * with ctypes to serve spawn requests from inside its interpreter.
 */
#include "jail/zygote.h"

int brig_zygote_serve(int sock, int pool);

/* Returns 0 in a guest; the zygote itself never returns. */
int brig_zygote_serve(int sock, int pool)
{
	return zygote_serve(sock, pool, NULL);
}
