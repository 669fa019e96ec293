/* Test harness for a generated model.c (serve/export_c.py compile_and_run):
   harness IN OUT N reads N images of MNISTLAB_INPUT_H x W x C bytes from IN, writes each
   predicted class (int) to OUT and then the seconds spent in mnistlab_predict (double). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "model.h"

int main(int argc, char **argv) {
    FILE *in, *out;
    long n, k;
    size_t one = MNISTLAB_INPUT_H * MNISTLAB_INPUT_W * MNISTLAB_INPUT_C;
    unsigned char *px;
    float probs[MNISTLAB_CLASSES];
    clock_t t0;
    double seconds;
    if (argc != 4) return 2;
    in = fopen(argv[1], "rb");
    out = fopen(argv[2], "wb");
    n = atol(argv[3]);
    px = malloc(one * (size_t)n);
    if (!in || !out || !px || fread(px, one, (size_t)n, in) != (size_t)n) return 3;
    t0 = clock();
    for (k = 0; k < n; ++k) {
        int c = mnistlab_predict(px + one * (size_t)k, probs);
        fwrite(&c, sizeof c, 1, out);
    }
    seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    fwrite(&seconds, sizeof seconds, 1, out);
    fclose(out);
    fclose(in);
    free(px);
    return 0;
}
