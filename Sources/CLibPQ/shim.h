#ifndef LOKET_CLIBPQ_SHIM_H
#define LOKET_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
