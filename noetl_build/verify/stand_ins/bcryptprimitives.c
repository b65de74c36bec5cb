/* A stand-in for Windows' bcryptprimitives.dll, for running our .exe under wine 8.
 *
 * Rust's standard library (1.78+) seeds its random state with ProcessPrng from
 * bcryptprimitives.dll, present on every Windows 10+. Debian 12's wine 8.0 has no such
 * DLL, so the binary fails to load there (status c0000135). This DLL exports ProcessPrng
 * on top of RtlGenRandom (advapi32's SystemFunction036), which wine has. verify puts it
 * next to the .exe and asks wine to prefer its own builtin DLL when it has one.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size)
{
    while (size > 0) {
        ULONG chunk = size > 0x7fffffff ? 0x7fffffff : (ULONG)size;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        size -= chunk;
    }
    return TRUE;
}
