/* mpi_allreduce.c — how long MPI_Allreduce takes to sum n floats in
 * place over the ranks of this job, for the sizes given (in floats) on
 * the command line: the communication half of bench/mpi_scaling.sh's
 * model.  Built by that script with mpicc; not part of the program.
 *
 *   mpirun -np 2 ./mpi_allreduce 431080 145578 ...
 *
 * Prints, on rank 0, one line per size: floats, bytes, the fastest and
 * the median of REPS timed calls in microseconds (after WARM untimed
 * ones), and from the fastest the algorithm bandwidth (bytes / time) and
 * bus bandwidth (2(N−1)/N · bytes / time, the bytes each rank sends in a
 * ring all-reduce, per second), as NCCL's tests define them.  The fastest
 * is what the link and the library can do; on a machine shared with
 * other work the median also holds the times a rank waited for the other
 * to be scheduled. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define WARM 20
#define REPS 200

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    double t[REPS];
    for (int a = 1; a < argc; a++) {
        long n = atol(argv[a]);
        float *buf = malloc((size_t)(n > 0 ? n : 1) * sizeof(float));
        for (long i = 0; i < n; i++) buf[i] = 1e-6f * (float)(i % 1000);
        for (int r = 0; r < WARM + REPS; r++) {
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
            if (r >= WARM) t[r - WARM] = MPI_Wtime() - t0;
        }
        qsort(t, REPS, sizeof t[0], by_value);
        double best = t[0], med = t[REPS / 2], bytes = (double)n * sizeof(float);
        if (rank == 0)
            printf("%ld %.0f %.1f %.1f %.3f %.3f\n", n, bytes, best * 1e6, med * 1e6, bytes / best / 1e9,
                   2.0 * (size - 1) / size * bytes / best / 1e9);
        free(buf);
    }
    MPI_Finalize();
    return 0;
}
