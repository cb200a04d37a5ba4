/* The HTTP endpoint's Python edge; see http_py.h.  The address has been
 * resolved and checked (loopback, or a token) by src/stackwatch/serve.py;
 * this only hands it to the server (http.h) with stackwatch's endpoints
 * (http_routes.h).  Called with the GIL held; http_stop releases it while
 * it joins the server thread.  No strong references are kept here. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <sys/socket.h>

#include "errors.h"
#include "errors_py.h"
#include "http.h"
#include "http_py.h"
#include "http_routes.h"

/* http_start(family, port, host, path, token, locals, gil_wait) -> the
 * bound address; family is "inet", "inet6" or "unix"; locals and
 * gil_wait (seconds) are /runinfo's. */
static PyObject *
http_start_py(PyObject *m, PyObject *args)
{
    const char *family, *host, *path, *token;
    int port, rc, locals = 0;
    double gil_wait = 1.0;
    sw_http_cfg_t cfg;
    char addr[160], err[256] = "";
    (void)m;

    if (!PyArg_ParseTuple(args, "sisss|pd:http_start", &family, &port, &host,
                          &path, &token, &locals, &gil_wait)) {
        return NULL;
    }
    if (!(gil_wait >= 0 && gil_wait <= 3600)) {
        return sw_py_raise(SW_EINVAL, "gil_wait must be 0 to 3600 seconds");
    }
    memset(&cfg, 0, sizeof(cfg));
    if (strcmp(family, "inet") == 0) {
        cfg.family = AF_INET;
    }
    else if (strcmp(family, "inet6") == 0) {
        cfg.family = AF_INET6;
    }
    else if (strcmp(family, "unix") == 0) {
        cfg.family = AF_UNIX;
    }
    else {
        return sw_py_raise(SW_EINVAL, "family must be inet, inet6 or unix");
    }
    if (strlen(host) >= sizeof(cfg.host) || strlen(path) >= sizeof(cfg.path) ||
        strlen(token) >= sizeof(cfg.token)) {
        return sw_py_raise(SW_EINVAL, "address or token too long");
    }
    strcpy(cfg.host, host);
    strcpy(cfg.path, path);
    strcpy(cfg.token, token);
    cfg.port = port;
    cfg.handler = sw_http_routes_handle;
    if (!sw_http_running()) {
        sw_http_routes_configure(locals, (uint64_t)(gil_wait * 1e9));
    }
    rc = sw_http_start(&cfg, addr, sizeof(addr), err, sizeof(err));
    if (rc < 0) {
        return sw_py_raise(rc, err);
    }
    return PyUnicode_FromString(addr);
}

static PyObject *
http_stop_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    Py_BEGIN_ALLOW_THREADS
        sw_http_stop();
        sw_http_routes_stop();
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *
http_running_py(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyBool_FromLong(sw_http_running());
}

static PyObject *
http_stats_py(PyObject *m, PyObject *noargs)
{
    sw_http_stats_t st;
    (void)m;
    (void)noargs;

    sw_http_get_stats(&st);
    return Py_BuildValue("{sKsKsKsKsKsKsi}", "accepted",
                         (unsigned long long)st.accepted, "requests",
                         (unsigned long long)st.requests, "refused",
                         (unsigned long long)st.refused, "evicted",
                         (unsigned long long)st.evicted, "timeouts",
                         (unsigned long long)st.timeouts, "errors",
                         (unsigned long long)st.errors, "open", st.open);
}

static PyMethodDef http_methods[] = {
    {"http_start", http_start_py, METH_VARARGS, NULL},
    {"http_stop", http_stop_py, METH_NOARGS, NULL},
    {"http_running", http_running_py, METH_NOARGS, NULL},
    {"http_stats", http_stats_py, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL},
};

int
sw_http_py_init(PyObject *m, sw_codecache_t *cache)
{
    sw_http_routes_init(cache);
    return PyModule_AddFunctions(m, http_methods);
}
