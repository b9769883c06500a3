/* Classifies MNIST test digits with LeNet-5 weights through the generated C API.
 *
 *   infer_lenet5 WEIGHTS.safetensors IMAGES_IDX LABELS_IDX [COUNT]
 */
#include <stdio.h>
#include <stdlib.h>

#include "lenet5.h"

static unsigned read_be32(FILE* f) {
  unsigned char b[4] = {0, 0, 0, 0};
  if (fread(b, 1, 4, f) != 4) return 0;
  return (unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3];
}

/* Reads an IDX file's header: returns the item count, or 0 if it is not `magic`. */
static unsigned open_idx(const char* path, unsigned magic, FILE** f) {
  unsigned n;
  *f = fopen(path, "rb");
  if (!*f) return 0;
  if (read_be32(*f) != magic) return 0;
  n = read_be32(*f);
  if (magic == 0x803 && (read_be32(*f) != 28 || read_be32(*f) != 28)) return 0;
  return n;
}

int main(int argc, char** argv) {
  FILE *fi = NULL, *fl = NULL;
  unsigned n, i, correct = 0;
  float *images, *out;
  unsigned char* pixels;
  unsigned char* labels;
  lenet5_model* model;
  if (argc < 4) {
    fprintf(stderr, "usage: %s WEIGHTS.safetensors IMAGES_IDX LABELS_IDX [COUNT]\n", argv[0]);
    return 2;
  }
  n = open_idx(argv[2], 0x803, &fi);
  if (n == 0 || open_idx(argv[3], 0x801, &fl) != n) {
    fprintf(stderr, "%s / %s: not a matching pair of 28x28 IDX image and label files\n", argv[2],
            argv[3]);
    return 2;
  }
  if (argc > 4 && (unsigned)atoi(argv[4]) < n) n = (unsigned)atoi(argv[4]);
  pixels = malloc((size_t)n * 784);
  labels = malloc(n);
  images = malloc(sizeof(float) * n * 784);
  out = malloc(sizeof(float) * n * LENET5_OUTPUT_SIZE);
  if (!pixels || !labels || !images || !out || fread(pixels, 784, n, fi) != n ||
      fread(labels, 1, n, fl) != n) {
    fprintf(stderr, "cannot read %u images\n", n);
    return 2;
  }
  for (i = 0; i < n * 784; ++i) images[i] = pixels[i] / 255.0f;

  model = lenet5_create(0);
  if (!model || lenet5_load_weights(model, argv[1]) != 0) {
    fprintf(stderr, "infer_lenet5: %s\n", model ? lenet5_last_error(model) : "out of memory");
    return 2;
  }
  if (lenet5_infer(model, images, n, out) != 0) {
    fprintf(stderr, "infer_lenet5: %s\n", lenet5_last_error(model));
    return 2;
  }
  for (i = 0; i < n; ++i) {
    const float* p = out + (size_t)i * LENET5_OUTPUT_SIZE;
    int k, best = 0;
    for (k = 1; k < LENET5_OUTPUT_SIZE; ++k) {
      if (p[k] > p[best]) best = k;
    }
    if (i < 10) printf("image %u: predicted %d (label %d, p=%.3f)\n", i, best, labels[i], p[best]);
    correct += best == labels[i];
  }
  printf("accuracy %.2f%% on %u images\n", 100.0 * correct / n, n);
  lenet5_destroy(model);
  free(pixels);
  free(labels);
  free(images);
  free(out);
  fclose(fi);
  fclose(fl);
  return 0;
}
