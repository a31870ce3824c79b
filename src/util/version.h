/*
 * version.h - ferry's version: one definition for ferryd's -V and log,
 * its metrics and the nodes table of a cluster (src/cluster/), where
 * `ferryctl cluster status` shows which node runs what.
 */
#ifndef FERRY_UTIL_VERSION_H
#define FERRY_UTIL_VERSION_H

#define FERRY_VERSION "0.1.0"

#endif
