/* changecast/changecast.h — umbrella header for plugin authors.
 *
 * Build a sink out of tree with
 *     cc -shared -fPIC -fvisibility=hidden $(pkg-config --cflags changecast) -o my.so my.c
 * and drop my.so into the plugin folder. See sdk/examples/ and README.md.
 */
#ifndef CHANGECAST_CHANGECAST_H
#define CHANGECAST_CHANGECAST_H

#include "changecast/portable.h"
#include "changecast/error.h"
#include "changecast/config.h"
#include "changecast/plugin.h"
#include "changecast/retry.h"

#endif
