/* core/loader.c — opening plugins and checking their ABI (see loader.h). */
#include "core/loader.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How far each ABI minor's descriptor reaches: a plugin built for minor m
 * must declare at least this size, so the host never reads past it. */
static size_t loader_min_size(uint32_t minor)
{
    if (minor == 0)
        return offsetof(cc_plugin_t, destroy) + sizeof(((cc_plugin_t *)0)->destroy);
    if (minor == 1)
        return offsetof(cc_plugin_t, flags) + sizeof(((cc_plugin_t *)0)->flags);
    if (minor == 2)
        return offsetof(cc_plugin_t, committed) + sizeof(((cc_plugin_t *)0)->committed);
    return offsetof(cc_plugin_t, check) + sizeof(((cc_plugin_t *)0)->check);
}

static int valid_name(const char *s)
{
    if (!s || !*s || strlen(s) > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

int cc_loader_check(const cc_plugin_t *d, char *err, size_t errlen)
{
    if (d->abi_major != CC_ABI_MAJOR) {
        snprintf(err, errlen,
                 "built for ABI %u.%u, this changecast speaks %u.%u: rebuild the plugin "
                 "against this SDK",
                 d->abi_major, d->abi_minor, CC_ABI_MAJOR, CC_ABI_MINOR);
        return CC_EABI;
    }
    if (d->abi_minor > CC_ABI_MINOR) {
        snprintf(err, errlen,
                 "built for ABI %u.%u, newer than this changecast's %u.%u: upgrade changecast "
                 "or rebuild the plugin against this SDK",
                 d->abi_major, d->abi_minor, CC_ABI_MAJOR, CC_ABI_MINOR);
        return CC_EABI;
    }
    if (d->size < loader_min_size(d->abi_minor)) {
        snprintf(err, errlen, "descriptor size %zu is too small for ABI %u.%u (needs %zu)",
                 d->size, d->abi_major, d->abi_minor, loader_min_size(d->abi_minor));
        return CC_EABI;
    }
    if (!valid_name(d->name)) {
        snprintf(err, errlen, "descriptor has no valid name (lowercase letters, digits, '_', '-')");
        return CC_EINVAL;
    }
    if (d->kind != CC_PLUGIN_SOURCE && d->kind != CC_PLUGIN_SINK) {
        snprintf(err, errlen, "plugin \"%s\" declares kind %d; expected source or sink", d->name,
                 (int)d->kind);
        return CC_EINVAL;
    }
    if (!d->init || !d->destroy || !d->start || !d->stop ||
        (d->kind == CC_PLUGIN_SINK && !d->deliver)) {
        snprintf(err, errlen, "plugin \"%s\" lacks a required callback (init, start, %sstop, destroy)",
                 d->name, d->kind == CC_PLUGIN_SINK ? "deliver, " : "");
        return CC_EINVAL;
    }
    return 0;
}

static void loader_refuse(cc_loader_t *ld, const char *fmt, ...) CC_PRINTF(2, 3);
static void loader_refuse(cc_loader_t *ld, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char **v = realloc(ld->refused, (ld->n_refused + 1) * sizeof *v);
    if (!v)
        return;
    ld->refused = v;
    if ((v[ld->n_refused] = strdup(msg)) != NULL)
        ld->n_refused++;
}

const cc_loaded_plugin_t *cc_loader_find(const cc_loader_t *ld, const char *name)
{
    for (size_t i = 0; i < ld->n_plugins; i++)
        if (strcmp(ld->plugins[i].desc.name, name) == 0)
            return &ld->plugins[i];
    return NULL;
}

int cc_loader_open(cc_loader_t *ld, const char *path)
{
    /* RTLD_NODELETE: plugins hand callbacks to process-wide libraries
     * (libmongoc's log handler, say); their code stays mapped until exit. */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        loader_refuse(ld, "%s: cannot load: %s", path, dlerror());
        return CC_EIO;
    }
    const cc_plugin_t *(*entry)(void);
    void *sym = dlsym(h, "cc_plugin_entry");
    /* POSIX allows converting dlsym's object pointer to a function pointer. */
    memcpy(&entry, &sym, sizeof entry);
    if (!sym) {
        loader_refuse(ld, "%s: not a changecast plugin: no cc_plugin_entry symbol "
                          "(export it with CC_PLUGIN_ENTRY)", path);
        dlclose(h);
        return CC_EABI;
    }
    const cc_plugin_t *d = entry();
    char why[512];
    int rc;
    if (!d) {
        snprintf(why, sizeof why, "cc_plugin_entry returned NULL");
        rc = CC_EINVAL;
    } else {
        rc = cc_loader_check(d, why, sizeof why);
    }
    if (rc == 0 && cc_loader_find(ld, d->name)) {
        snprintf(why, sizeof why, "a plugin named \"%s\" is already loaded from %s", d->name,
                 cc_loader_find(ld, d->name)->path);
        rc = CC_EINVAL;
    }
    if (rc != 0) {
        loader_refuse(ld, "%s: refused: %s", path, why);
        dlclose(h);
        return rc;
    }
    cc_loaded_plugin_t *v = realloc(ld->plugins, (ld->n_plugins + 1) * sizeof *v);
    char *p = strdup(path);
    if (!v || !p) {
        free(p);
        if (v)
            ld->plugins = v;
        dlclose(h);
        return CC_ENOMEM;
    }
    ld->plugins = v;
    cc_loaded_plugin_t *lp = &v[ld->n_plugins++];
    memset(&lp->desc, 0, sizeof lp->desc);
    /* Read no further than the plugin's own size: newer fields stay zero. */
    memcpy(&lp->desc, d, d->size < sizeof lp->desc ? d->size : sizeof lp->desc);
    lp->path = p;
    lp->handle = h;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int loader_scan_dir(cc_loader_t *ld, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        loader_refuse(ld, "%s: cannot open plugin folder: %s", dir, strerror(errno));
        return 0;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
            continue;
        char **v = realloc(names, (n + 1) * sizeof *v);
        if (!v)
            break;
        names = v;
        if ((names[n] = strdup(e->d_name)) != NULL)
            n++;
    }
    closedir(d);
    /* Sorted, so "which duplicate wins" does not depend on the file system. */
    qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (cc_loader_open(ld, path) == CC_ENOMEM)
            rc = CC_ENOMEM;
        free(names[i]);
    }
    free(names);
    return rc;
}

int cc_loader_scan(cc_loader_t *ld, char *const *dirs, size_t n_dirs)
{
    for (size_t i = 0; i < n_dirs; i++) {
        int rc = loader_scan_dir(ld, dirs[i]);
        if (rc)
            return rc;
    }
    return 0;
}

void cc_loader_free(cc_loader_t *ld)
{
    for (size_t i = 0; i < ld->n_plugins; i++) {
        free(ld->plugins[i].path);
        /* Under AddressSanitizer, keep the code mapped so leak reports can
         * still name plugin frames. */
#ifndef CC_NO_DLCLOSE
        dlclose(ld->plugins[i].handle);
#endif
    }
    free(ld->plugins);
    for (size_t i = 0; i < ld->n_refused; i++)
        free(ld->refused[i]);
    free(ld->refused);
    memset(ld, 0, sizeof *ld);
}
