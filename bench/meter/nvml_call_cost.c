/*
 * CPU time of one NVML call, measured in C with no JVM in the way, so that the benchmark can tell how
 * much of the NVML sensor's cost is the library's own (for the fake: reopening and parsing its control
 * file on every call) and how much is the JNA call and the Java around it.
 *
 *   gcc -O2 -o nvml_call_cost nvml_call_cost.c -ldl && ./nvml_call_cost LIBRARY [CALLS]
 *
 * Prints "<microseconds of CPU per call> <function>" for nvmlDeviceGetPowerUsage and
 * nvmlDeviceGetTotalEnergyConsumption on GPU 0.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef int (*init_fn)(void);
typedef int (*handle_fn)(unsigned int, void **);
typedef int (*power_fn)(void *, unsigned int *);
typedef int (*energy_fn)(void *, unsigned long long *);

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s LIBRARY [CALLS]\n", argv[0]);
        return 2;
    }
    long calls = argc > 2 ? atol(argv[2]) : 20000;
    void *library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    init_fn init = (init_fn) dlsym(library, "nvmlInit_v2");
    handle_fn handle_by_index = (handle_fn) dlsym(library, "nvmlDeviceGetHandleByIndex_v2");
    power_fn power = (power_fn) dlsym(library, "nvmlDeviceGetPowerUsage");
    energy_fn energy = (energy_fn) dlsym(library, "nvmlDeviceGetTotalEnergyConsumption");
    void *device = NULL;
    if (init == NULL || handle_by_index == NULL || power == NULL || init() != 0 || handle_by_index(0, &device) != 0) {
        fprintf(stderr, "%s: nvmlInit_v2 or nvmlDeviceGetHandleByIndex_v2(0) failed\n", argv[1]);
        return 1;
    }
    unsigned int milliwatts = 0;
    double start = cpu_seconds();
    for (long i = 0; i < calls; i++) {
        power(device, &milliwatts);
    }
    printf("%.2f nvmlDeviceGetPowerUsage\n", (cpu_seconds() - start) / calls * 1e6);
    if (energy != NULL) {
        unsigned long long millijoules = 0;
        start = cpu_seconds();
        for (long i = 0; i < calls; i++) {
            energy(device, &millijoules);
        }
        printf("%.2f nvmlDeviceGetTotalEnergyConsumption\n", (cpu_seconds() - start) / calls * 1e6);
    }
    return 0;
}
