/* mv_api.h - MV_API marks what libmedvault.so exports.
 *
 * The library is compiled with -fvisibility=hidden, so a function is visible to programs
 * linking libmedvault.so only when its declaration in include/medvault/ starts with MV_API;
 * everything else (the helpers one folder shares with another, test hooks) stays inside the
 * library. scripts/check-exports.py fails the build's tests if a public declaration lacks the
 * mark or if the shared library exports a name that no public header declares. The static
 * library ignores visibility, which is why the CLI and the tests may still link internals. */
#ifndef MV_API_H
#define MV_API_H

#if defined(__GNUC__) || defined(__clang__)
#define MV_API __attribute__((visibility("default")))
#else
#define MV_API
#endif

#endif
