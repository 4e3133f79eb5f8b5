/* core/commands.c — the command line: run, check, plugins, version. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cc_config.h"
#include "core/commands.h"
#include "core/log.h"
#include "core/runtime.h"

static const char usage[] =
    "usage: changecast run   [-c MANIFEST] [-v|-q]   run until SIGINT/SIGTERM; SIGHUP reopens logs\n"
    "       changecast check [-c MANIFEST]           validate the manifest and every plugin's config\n"
    "       changecast plugins [--plugin-dir DIR] [--help NAME]\n"
    "                                                list plugins, or one plugin's config keys\n"
    "       changecast version\n"
    "The manifest defaults to $CHANGECAST_MANIFEST, else ./changecast.json.\n"
    "Exit status: 0 clean stop, 1 runtime failure, 2 usage or configuration error.\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "changecast: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

typedef struct cmd_opts {
    const char *manifest;
    const char *plugin_dir;
    const char *help_plugin;
    int verbosity;   /* -1 quiet, 0, 1 verbose */
} cmd_opts_t;

static int parse_opts(int argc, char **argv, cmd_opts_t *o, int allow_verbosity, int allow_manifest,
                      int allow_plugins)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (allow_manifest && (!strcmp(a, "-c") || !strcmp(a, "--config"))) {
            if (++i == argc)
                return usage_error("%s needs a manifest path", a);
            o->manifest = argv[i];
        } else if (allow_verbosity && (!strcmp(a, "-v") || !strcmp(a, "--verbose"))) {
            o->verbosity = 1;
        } else if (allow_verbosity && (!strcmp(a, "-q") || !strcmp(a, "--quiet"))) {
            o->verbosity = -1;
        } else if (allow_plugins && !strcmp(a, "--plugin-dir")) {
            if (++i == argc)
                return usage_error("%s needs a folder", a);
            o->plugin_dir = argv[i];
        } else if (allow_plugins && !strcmp(a, "--help")) {
            if (++i == argc)
                return usage_error("%s needs a plugin name", a);
            o->help_plugin = argv[i];
        } else {
            return usage_error("unexpected argument \"%s\"", a);
        }
    }
    if (!o->manifest) {
        const char *env = getenv("CHANGECAST_MANIFEST");
        o->manifest = env && *env ? env : "changecast.json";
    }
    return 0;
}

static int load_manifest(const char *path, cc_manifest_t **m)
{
    char err[2048];
    if (cc_manifest_load(path, m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    return 0;
}

/* A listener sink holds one descriptor per client (10k+ for websocket), and
 * the usual soft limit is 1024: take what the hard limit allows. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            cc_log_warn("could not raise the open-file limit from %llu to %llu",
                        (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    }
}

static int cmd_run(int argc, char **argv)
{
    cmd_opts_t o = {0};
    int rc = parse_opts(argc, argv, &o, 1, 1, 0);
    if (rc)
        return rc;
    cc_manifest_t *m;
    if ((rc = load_manifest(o.manifest, &m)) != 0)
        return rc;
    cc_log_level_t level = o.verbosity > 0 ? CC_LOG_DEBUG : o.verbosity < 0 ? CC_LOG_ERROR
                                                                           : m->log_level;
    /* On failure cc_log_setup has said why and logs to stderr. */
    (void)cc_log_setup(level, m->log_json, m->log_path);
    raise_fd_limit();
    cc_runtime_t rt;
    if (cc_runtime_prepare(&rt, m, 0) != 0) {
        cc_runtime_free(&rt);
        cc_manifest_free(m);
        return 2;
    }
    int status = cc_runtime_run(&rt);
    cc_runtime_free(&rt);
    cc_manifest_free(m);
    return status;
}

static int cmd_check(int argc, char **argv)
{
    cmd_opts_t o = {0};
    int rc = parse_opts(argc, argv, &o, 0, 1, 0);
    if (rc)
        return rc;
    cc_manifest_t *m;
    if ((rc = load_manifest(o.manifest, &m)) != 0)
        return rc;
    cc_runtime_t rt;
    rc = cc_runtime_prepare(&rt, m, 0);
    if (rc == 0)
        rc = cc_runtime_check_plugins(&rt);
    if (rc == 0)
        printf("%s: OK (%zu source%s, %zu sink%s)\n", m->display, m->n_sources,
               m->n_sources == 1 ? "" : "s", m->n_sinks, m->n_sinks == 1 ? "" : "s");
    cc_runtime_free(&rt);
    cc_manifest_free(m);
    return rc ? 2 : 0;
}

static int cmd_plugins(int argc, char **argv)
{
    cmd_opts_t o = {0};
    int rc = parse_opts(argc, argv, &o, 0, 0, 1);
    if (rc)
        return rc;
    char **dirs;
    size_t n_dirs;
    if (cc_plugin_dirs(NULL, o.plugin_dir, &dirs, &n_dirs) != 0)
        return 1;
    cc_loader_t ld = {0};
    cc_loader_scan(&ld, dirs, n_dirs);
    for (size_t i = 0; i < n_dirs; i++)
        free(dirs[i]);
    free(dirs);
    if (o.help_plugin) {
        const cc_loaded_plugin_t *p = cc_loader_find(&ld, o.help_plugin);
        if (!p) {
            fprintf(stderr, "changecast: no plugin named \"%s\" (run `changecast plugins`)\n",
                    o.help_plugin);
            cc_loader_free(&ld);
            return 2;
        }
        printf("%s %s — %s (%s, ABI %u.%u)\n%s\n\nconfig keys:\n", p->desc.name,
               p->desc.version ? p->desc.version : "?",
               p->desc.kind == CC_PLUGIN_SOURCE ? "source" : "sink", p->path, p->desc.abi_major,
               p->desc.abi_minor, p->desc.description ? p->desc.description : "");
        if (p->desc.config)
            cc_config_print(stdout, p->desc.config, 2);
        else
            printf("  (none)\n");
        cc_loader_free(&ld);
        return 0;
    }
    printf("%-16s %-7s %-10s %-5s %s\n", "NAME", "KIND", "VERSION", "ABI", "PATH");
    for (size_t i = 0; i < ld.n_plugins; i++) {
        const cc_loaded_plugin_t *p = &ld.plugins[i];
        char abi[16];
        snprintf(abi, sizeof abi, "%u.%u", p->desc.abi_major, p->desc.abi_minor);
        printf("%-16s %-7s %-10s %-5s %s\n", p->desc.name,
               p->desc.kind == CC_PLUGIN_SOURCE ? "source" : "sink",
               p->desc.version ? p->desc.version : "?", abi, p->path);
    }
    for (size_t i = 0; i < ld.n_refused; i++)
        fprintf(stderr, "%s\n", ld.refused[i]);
    cc_loader_free(&ld);
    return 0;
}

int cc_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "run"))
        return cmd_run(argc, argv);
    if (!strcmp(cmd, "check"))
        return cmd_check(argc, argv);
    if (!strcmp(cmd, "plugins"))
        return cmd_plugins(argc, argv);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("changecast %s (plugin ABI %d.%d)\n", CC_VERSION, CC_ABI_MAJOR, CC_ABI_MINOR);
        return 0;
    }
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage, stdout);
        return 0;
    }
    return usage_error("unknown command \"%s\"", cmd);
}
