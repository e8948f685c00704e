/*
 * no_postgres.hpp — tripwire included by every core header.
 *
 * The core library never sees PostgreSQL headers: PG's c.h/elog.h macros (ERROR, INFO,
 * Min, Max, Assert, newNode, printf) clash with LibTorch, glog and OpenCV, and keeping
 * the core free of them makes the C++ <-> ereport boundary structural.
 */

#if defined(PG_VERSION_NUM) || defined(POSTGRES_H)
#error "core headers must not be compiled together with PostgreSQL headers"
#endif
