/*
 * A stand-in for NVIDIA's libnvidia-ml.so, for the NVML sensor's tests on machines without a GPU.
 *
 * It exports the NVML calls the sensor makes, with the signatures, struct layouts and return codes
 * of nvml.h, and answers them from a plain-text control file. The file is read again at the start
 * of every call: the JVM loads a library once per process, so a test changes what the "GPU" reports
 * by rewriting the file, not by reloading the library.
 *
 * The control file is named by fake_nvml_set_control_file() (called by the test through JNA), or
 * else by the environment variable FAKE_NVML_CONTROL. Its lines:
 *
 *   init_result N                 what nvmlInit_v2 returns (default 0)
 *   device                        starts a new GPU; the lines below describe it
 *   name TEXT                     nvmlDeviceGetName (rest of the line)
 *   uuid TEXT                     nvmlDeviceGetUUID
 *   energy_mj N                   nvmlDeviceGetTotalEnergyConsumption, millijoules
 *   power_mw N                    nvmlDeviceGetPowerUsage, milliwatts
 *   power_limit_mw N              nvmlDeviceGetEnforcedPowerLimit, milliwatts
 *   utilization GPU MEM           nvmlDeviceGetUtilizationRates, percent
 *   memory TOTAL FREE USED        nvmlDeviceGetMemoryInfo, bytes
 *   process PID USED_BYTES        one running compute process (repeat the line for more)
 *   processes unsupported         makes the process calls fail instead
 *
 * Any value may be written "unsupported" (the call returns NVML_ERROR_NOT_SUPPORTED) or
 * "error N" (the call returns N). A metric that is not mentioned is unsupported.
 *
 * By default it models a current driver (the 580 branch): nvmlDeviceGetComputeRunningProcesses_v3
 * fills 24-byte nvmlProcessInfo_v2_t entries, and both nvmlDeviceGetConfComputeMemSizeInfo and
 * nvmlDeviceGetRunningProcessDetailList exist. Compiled with
 *   -DFAKE_NVML_LEGACY  an old driver: no nvmlDeviceGetTotalEnergyConsumption, and only the
 *                       unversioned process call with its two-field, 16-byte struct;
 *   -DFAKE_NVML_535     a driver of the 535 branch whose _v3 call fills 32-byte entries (with
 *                       usedGpuCcProtectedMemory), told apart by having ConfComputeMemSizeInfo
 *                       but not RunningProcessDetailList.
 *
 * Not thread-safe: the tests call it from one thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef struct fake_device *nvmlDevice_t;

/* nvmlReturn_t values, as in nvml.h. */
#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_ERROR_UNKNOWN 999

/* The structs the sensor reads, laid out as in nvml.h. */
typedef struct {
    unsigned int gpu;
    unsigned int memory;
} nvmlUtilization_t;

typedef struct {
    unsigned long long total;
    unsigned long long free;
    unsigned long long used;
} nvmlMemory_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
} nvmlProcessInfo_v1_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_v2_t;

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
    unsigned long long usedGpuCcProtectedMemory;
} nvmlProcessInfo_v3_535_t;

#define MAX_DEVICES 8
#define MAX_PROCESSES 256
#define TEXT_SIZE 128

/* A value the control file sets: the return code of its call and, on success, up to three numbers. */
struct field {
    nvmlReturn_t rc;
    unsigned long long v[3];
};

struct fake_process {
    unsigned int pid;
    unsigned long long used_bytes;
};

struct fake_device {
    char name[TEXT_SIZE];
    char uuid[TEXT_SIZE];
    struct field energy_mj;
    struct field power_mw;
    struct field power_limit_mw;
    struct field utilization;
    struct field memory;
    nvmlReturn_t processes_rc;
    unsigned int process_count;
    struct fake_process processes[MAX_PROCESSES];
};

/* Every name here is static so that two copies of this library in one process keep apart. */
static char control_path[4096];
static nvmlReturn_t init_result;
static unsigned int device_count;
static struct fake_device devices[MAX_DEVICES];
static int init_refcount;
static int shutdown_calls;

static void set_field(struct field *f, const char *text) {
    memset(f, 0, sizeof *f);
    if (strncmp(text, "unsupported", 11) == 0) {
        f->rc = NVML_ERROR_NOT_SUPPORTED;
    } else if (strncmp(text, "error", 5) == 0) {
        f->rc = (nvmlReturn_t) strtol(text + 5, NULL, 10);
    } else {
        f->rc = NVML_SUCCESS;
        sscanf(text, "%llu %llu %llu", &f->v[0], &f->v[1], &f->v[2]);
    }
}

static void copy_text(char *dst, const char *src) {
    snprintf(dst, TEXT_SIZE, "%s", src);
    dst[strcspn(dst, "\r\n")] = '\0';
}

static void reset_device(struct fake_device *d) {
    memset(d, 0, sizeof *d);
    d->energy_mj.rc = NVML_ERROR_NOT_SUPPORTED;
    d->power_mw.rc = NVML_ERROR_NOT_SUPPORTED;
    d->power_limit_mw.rc = NVML_ERROR_NOT_SUPPORTED;
    d->utilization.rc = NVML_ERROR_NOT_SUPPORTED;
    d->memory.rc = NVML_ERROR_NOT_SUPPORTED;
    d->processes_rc = NVML_SUCCESS;
}

/* Reads the control file into the static state; a missing file is a machine with no GPUs. */
static void load_control(void) {
    const char *path = control_path[0] != '\0' ? control_path : getenv("FAKE_NVML_CONTROL");
    init_result = NVML_SUCCESS;
    device_count = 0;
    if (path == NULL) {
        return;
    }
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        return;
    }
    char line[512];
    struct fake_device *d = NULL;
    while (fgets(line, sizeof line, in) != NULL) {
        char key[64];
        int consumed = 0;
        if (sscanf(line, " %63s %n", key, &consumed) < 1 || key[0] == '#') {
            continue;
        }
        const char *rest = line + consumed;
        if (strcmp(key, "init_result") == 0) {
            init_result = (nvmlReturn_t) strtol(rest, NULL, 10);
        } else if (strcmp(key, "device") == 0) {
            if (device_count == MAX_DEVICES) {
                break;
            }
            d = &devices[device_count++];
            reset_device(d);
        } else if (d == NULL) {
            continue;
        } else if (strcmp(key, "name") == 0) {
            copy_text(d->name, rest);
        } else if (strcmp(key, "uuid") == 0) {
            copy_text(d->uuid, rest);
        } else if (strcmp(key, "energy_mj") == 0) {
            set_field(&d->energy_mj, rest);
        } else if (strcmp(key, "power_mw") == 0) {
            set_field(&d->power_mw, rest);
        } else if (strcmp(key, "power_limit_mw") == 0) {
            set_field(&d->power_limit_mw, rest);
        } else if (strcmp(key, "utilization") == 0) {
            set_field(&d->utilization, rest);
        } else if (strcmp(key, "memory") == 0) {
            set_field(&d->memory, rest);
        } else if (strcmp(key, "processes") == 0) {
            struct field f;
            set_field(&f, rest);
            d->processes_rc = f.rc;
        } else if (strcmp(key, "process") == 0 && d->process_count < MAX_PROCESSES) {
            struct fake_process *p = &d->processes[d->process_count++];
            sscanf(rest, "%u %llu", &p->pid, &p->used_bytes);
        }
    }
    fclose(in);
}

/* Reloads the control file and checks the handle, as every device call must. */
static nvmlReturn_t enter(nvmlDevice_t device) {
    load_control();
    if (init_refcount == 0) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (device < devices || device >= devices + device_count) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_string(const char *value, char *out, unsigned int length) {
    if (out == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (strlen(value) + 1 > length) {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    strcpy(out, value);
    return NVML_SUCCESS;
}

/* Fills an array of process structs of the given size: the versions differ after usedGpuMemory. */
static nvmlReturn_t fill_processes(nvmlDevice_t device, unsigned int *count, void *infos, size_t stride) {
    nvmlReturn_t rc = enter(device);
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (count == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (device->processes_rc != NVML_SUCCESS) {
        return device->processes_rc;
    }
    unsigned int have = device->process_count;
    if (*count < have || (have > 0 && infos == NULL)) {
        *count = have;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    for (unsigned int i = 0; i < have; i++) {
        char *slot = (char *) infos + i * stride;
        memset(slot, 0, stride);
        if (stride >= sizeof(nvmlProcessInfo_v2_t)) {
            nvmlProcessInfo_v2_t *p = (nvmlProcessInfo_v2_t *) slot;
            p->pid = device->processes[i].pid;
            p->usedGpuMemory = device->processes[i].used_bytes;
            p->gpuInstanceId = 0xFFFFFFFFu;    /* what NVML writes when MIG is off */
            p->computeInstanceId = 0xFFFFFFFFu;
        } else {
            nvmlProcessInfo_v1_t *p = (nvmlProcessInfo_v1_t *) slot;
            p->pid = device->processes[i].pid;
            p->usedGpuMemory = device->processes[i].used_bytes;
        }
    }
    *count = have;
    return NVML_SUCCESS;
}

/* ---- Test controls: not part of NVML. ---- */

void fake_nvml_set_control_file(const char *path) {
    snprintf(control_path, sizeof control_path, "%s", path == NULL ? "" : path);
    init_refcount = 0;
    shutdown_calls = 0;
}

int fake_nvml_shutdown_calls(void) {
    return shutdown_calls;
}

int fake_nvml_init_refcount(void) {
    return init_refcount;
}

/* ---- NVML. ---- */

nvmlReturn_t nvmlInit_v2(void) {
    load_control();
    if (init_result == NVML_SUCCESS) {
        init_refcount++;
    }
    return init_result;
}

nvmlReturn_t nvmlShutdown(void) {
    shutdown_calls++;
    if (init_refcount == 0) {
        return NVML_ERROR_UNINITIALIZED;
    }
    init_refcount--;
    return NVML_SUCCESS;
}

/* The strings NVML gives for these codes. */
const char *nvmlErrorString(nvmlReturn_t result) {
    switch (result) {
        case 0: return "Success";
        case 1: return "Uninitialized";
        case 2: return "Invalid Argument";
        case 3: return "Not Supported";
        case 4: return "Insufficient Permissions";
        case 7: return "Insufficient Size";
        case 9: return "Driver Not Loaded";
        case 15: return "GPU is lost";
        case 18: return "RM has detected an NVML/RM version mismatch.";
        default: return "Unknown Error";
    }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    load_control();
    if (init_refcount == 0) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (count == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *count = device_count;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    load_control();
    if (init_refcount == 0) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (device == NULL || index >= device_count) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *device = &devices[index];
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    nvmlReturn_t rc = enter(device);
    return rc != NVML_SUCCESS ? rc : copy_string(device->name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    nvmlReturn_t rc = enter(device);
    return rc != NVML_SUCCESS ? rc : copy_string(device->uuid, uuid, length);
}

#ifndef FAKE_NVML_LEGACY
nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long *energy) {
    nvmlReturn_t rc = enter(device);
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (device->energy_mj.rc == NVML_SUCCESS) {
        *energy = device->energy_mj.v[0];
    }
    return device->energy_mj.rc;
}
#endif

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned int *power) {
    nvmlReturn_t rc = enter(device);
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (device->power_mw.rc == NVML_SUCCESS) {
        *power = (unsigned int) device->power_mw.v[0];
    }
    return device->power_mw.rc;
}

nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, unsigned int *limit) {
    nvmlReturn_t rc = enter(device);
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (device->power_limit_mw.rc == NVML_SUCCESS) {
        *limit = (unsigned int) device->power_limit_mw.v[0];
    }
    return device->power_limit_mw.rc;
}

nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, nvmlUtilization_t *utilization) {
    nvmlReturn_t rc = enter(device);
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (device->utilization.rc == NVML_SUCCESS) {
        utilization->gpu = (unsigned int) device->utilization.v[0];
        utilization->memory = (unsigned int) device->utilization.v[1];
    }
    return device->utilization.rc;
}

nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    nvmlReturn_t rc = enter(device);
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (device->memory.rc == NVML_SUCCESS) {
        memory->total = device->memory.v[0];
        memory->free = device->memory.v[1];
        memory->used = device->memory.v[2];
    }
    return device->memory.rc;
}

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses(nvmlDevice_t device, unsigned int *count,
                                                  nvmlProcessInfo_v1_t *infos) {
    return fill_processes(device, count, infos, sizeof(nvmlProcessInfo_v1_t));
}

#ifndef FAKE_NVML_LEGACY
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_v2_t *infos) {
    return fill_processes(device, count, infos, sizeof(nvmlProcessInfo_v2_t));
}

#ifdef FAKE_NVML_535
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_v3_535_t *infos) {
    return fill_processes(device, count, infos, sizeof(nvmlProcessInfo_v3_535_t));
}
#else
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t device, unsigned int *count,
                                                     nvmlProcessInfo_v2_t *infos) {
    return fill_processes(device, count, infos, sizeof(nvmlProcessInfo_v2_t));
}

/* Present only so that the sensor can tell driver branches apart; it never calls it. */
nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t device, void *plist) {
    (void) plist;
    nvmlReturn_t rc = enter(device);
    return rc != NVML_SUCCESS ? rc : NVML_ERROR_NOT_SUPPORTED;
}
#endif

/* Present only so that the sensor can tell driver branches apart; it never calls it. */
nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t device, void *info) {
    (void) info;
    nvmlReturn_t rc = enter(device);
    return rc != NVML_SUCCESS ? rc : NVML_ERROR_NOT_SUPPORTED;
}
#endif
