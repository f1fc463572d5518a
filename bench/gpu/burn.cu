// Keeps one GPU busy for N seconds with FMA work, so that its power and energy counter move.
#include <cstdio>
#include <cstdlib>
#include <ctime>
__global__ void burn(float *x, int iters) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    float a = x[i], b = 1.0001f, c = 0.9999f;
    for (int k = 0; k < iters; k++) { a = a * b + c; b = b * c + a * 1e-7f; }
    x[i] = a + b;
}
int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 10;
    int n = 1 << 22;
    float *x; cudaMalloc(&x, n * sizeof(float)); cudaMemset(x, 0, n * sizeof(float));
    timespec t0, t; clock_gettime(CLOCK_MONOTONIC, &t0);
    int launches = 0;
    do { burn<<<n / 256, 256>>>(x, 4096); cudaDeviceSynchronize(); launches++;
         clock_gettime(CLOCK_MONOTONIC, &t); } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
    printf("burn: %d launches in %.1f s, error %s\n", launches, seconds, cudaGetErrorString(cudaGetLastError()));
    cudaFree(x); return 0;
}
