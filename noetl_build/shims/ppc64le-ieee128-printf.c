/*
 * zig compiles C for powerpc64le with IEEE-128 `long double`, so glibc's headers
 * route printf-family calls to the `__*ieee128` entry points that only glibc 2.32
 * has. The C that zig builds into our binary (libunwind's logging) never prints a
 * long double, so the plain functions of every glibc since 2.17 do the same job.
 * This file is compiled with -mabi=ibmlongdouble, so the calls below are not
 * routed again.
 */
#include <stdarg.h>
#include <stdio.h>

int __fprintfieee128(FILE *stream, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int written = vfprintf(stream, format, args);
    va_end(args);
    return written;
}

int __snprintfieee128(char *buffer, size_t size, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    int written = vsnprintf(buffer, size, format, args);
    va_end(args);
    return written;
}

int __vfprintfieee128(FILE *stream, const char *format, va_list args)
{
    return vfprintf(stream, format, args);
}

int __vsnprintfieee128(char *buffer, size_t size, const char *format, va_list args)
{
    return vsnprintf(buffer, size, format, args);
}
