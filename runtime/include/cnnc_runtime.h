// cnnc runtime: the one public header shared by every generated model library.
// `cnnc compile` copies it beside <name>.h. It holds the plain data the compiler
// bakes into a model (parameter table, training recipe), the Network interface
// that generated code implements, and the framework-free pieces every model
// reuses: initialisation, weights files and checkpoints, data sets, the training
// loop and the drivers behind `cnnc train` and `cnnc run`.
#pragma once
// A guard as well: `cnnc compile` copies this header beside <name>.h, and a
// copy and the original included together must still define things once.
#ifndef CNNC_RUNTIME_H_
#define CNNC_RUNTIME_H_

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cnnc {

// Bad input (a file, a data set, an argument). The message says what is wrong
// and what to do; exit_code is what a command-line tool exits with (2 for bad
// input, 3 for a diverged training run).
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, int exit_code = 2)
      : std::runtime_error(message), exit_code_(exit_code) {}
  int exit_code() const { return exit_code_; }

 private:
  int exit_code_;
};

enum class Init : int { GlorotUniform, GlorotNormal, HeUniform, HeNormal, Zeros, Ones };

// One variable of the model, in the layout of the weights file
// (model-format.md): Conv2D kernel [kh, kw, c_in, c_out], Dense kernel [in, out].
struct ParamInfo {
  const char* name;  // "conv1.kernel"
  int rank;
  int64_t shape[4];
  size_t offset;  // in floats, into the parameter block
  size_t size;    // in floats
  Init init;
  int64_t fan_in, fan_out;  // Keras's fans, for the Glorot/He initialisers
  float l2;                 // kernel_regularizer l2 (0: none); loss += l2 * sum(w^2)
  bool trainable;           // false for BatchNorm moving statistics
};

struct LrSchedule {
  enum class Type { Constant, Piecewise, Step, Plateau };
  Type type = Type::Constant;
  std::vector<int> boundaries;  // piecewise: epoch e uses values[#{b : e > b}]
  std::vector<double> values;
  double initial = 0.01;  // step, plateau
  double factor = 0.1;    // step, plateau
  int every = 1;          // step: initial * factor^floor(e / every)
  int patience = 10;      // plateau
  double min_lr = 0.0;    // plateau
  std::string monitor = "val_accuracy";  // plateau
};

struct Augmentation {
  int random_crop_padding = 0;  // pad by this many zeros, crop back at a random offset
  bool horizontal_flip = false;
};

// The model file's "training" section, with Keras's defaults where it is silent.
struct TrainRecipe {
  int batch_size = 32;
  int epochs = 1;
  double learning_rate = 0.01;
  double momentum = 0.0;
  bool nesterov = false;
  LrSchedule schedule;
  bool shuffle = true;
  uint64_t seed = 0;
  std::string checkpoint_monitor = "val_accuracy";
  bool save_best_only = true;
  Augmentation augmentation;
};

// One kernel call of inference or of a training step, as profiles show it
// (cnnc bench [--train] --profile).
struct StepInfo {
  std::string layer;           // the IR node, e.g. "conv1"
  std::string kernel;          // the kernel kind, e.g. "conv2d"
  std::string schedule;        // the kernel's schedule in a few words, e.g. "direct 48c x 8w"
  double flops_per_image = 0;  // 2 per multiply-add of conv and dense; 0 for the others
};

// What the compiler knows about a generated model.
struct ModelInfo {
  std::string name;
  int input_h = 0, input_w = 0, input_c = 0;
  int64_t output_size = 0;  // floats per image in the output (classes)
  int max_batch = 0;        // largest batch one kernel call takes; infer() chunks above it
  bool has_training = false;  // train_step() is available
  std::vector<ParamInfo> params;  // every variable, moving statistics included
  size_t param_floats = 0;        // size of the parameter block
  size_t arena_bytes = 0;         // activation (and gradient) arena
  TrainRecipe recipe;
  std::vector<StepInfo> infer_steps;  // the kernel calls of infer(), in order
  // The kernel calls of train_step(), in order: forward, loss, backward, updates.
  std::vector<StepInfo> train_steps;
  int64_t input_size() const { return int64_t(input_h) * input_w * input_c; }
};

// Optimiser settings for one step (Keras SGD).
struct Sgd {
  float learning_rate = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
};

struct StepResult {
  double loss = 0.0;  // mean cross-entropy of the batch plus the L2 terms
  int correct = 0;    // images whose arg-max matched the label
  // False when the loss or a gradient was not finite. Then no weight, velocity
  // or moving statistic was changed, and nonfinite_at names the first kernel
  // whose output was not finite, e.g. "layer 'conv2' (forward)".
  bool finite = true;
  std::string nonfinite_at;
};

// Implemented by the generated code; used by the training loop and the drivers.
// A Network owns its parameters, optimiser state and arena. Calls on one
// instance must not overlap; separate instances are independent.
class Network {
 public:
  virtual ~Network() = default;
  virtual const ModelInfo& info() const = 0;
  // The parameter block: info().param_floats floats, laid out by info().params.
  virtual float* params() = 0;
  // Optimiser velocity, one float per parameter float (zero for non-trainable).
  virtual float* velocity() = 0;
  // Inference on n images (NHWC floats); writes n * info().output_size floats.
  virtual void infer(const float* images, int64_t n, float* out) = 0;
  // One training step on n <= info().max_batch images: forward in training mode
  // (batch statistics, dropout with the given seed and step), loss, backward,
  // SGD update. Throws cnnc::Error if the library was built without training.
  virtual StepResult train_step(const float* images, const int32_t* labels, int n, const Sgd& sgd,
                                uint64_t dropout_seed, uint64_t step) = 0;
  // Profiling: while `seconds` is not null, every infer() adds the wall time
  // of its i-th kernel call to seconds[i] (info().infer_steps.size() of them),
  // and every train_step() likewise (info().train_steps.size() of them).
  virtual void profile_steps(double* seconds) { (void)seconds; }
  // Testing: while `dir` is not null, every train_step writes the batched
  // operands of its forward kernel calls into that folder (cnnc::abi::dump_operand):
  // what the parity test needs to see the float32 decisions (ReLU, max pooling)
  // this library took. Host libraries only.
  virtual void dump_forward(const char* dir) {
    if (dir) throw Error("dump_forward: this library cannot dump its forward pass (host only)");
  }
};

// ---- initialisation and weights files -------------------------------------

// Keras-like initialisation of every variable from a seed (biases and beta 0,
// gamma 1, moving mean 0, moving variance 1); velocity set to zero.
void initialize(Network& net, uint64_t seed);
// Writes every variable as a safetensors file (temporary file, then rename).
void save_weights(Network& net, const std::string& path);
// Reads a safetensors weights file (or a checkpoint). A missing, extra or
// mis-shaped tensor is refused with an Error naming it; nothing is changed then.
void load_weights(Network& net, const std::string& path);

// ---- data sets --------------------------------------------------------------

struct Dataset {
  int64_t n = 0, h = 0, w = 0, c = 0;
  std::vector<float> images;    // n * h * w * c, NHWC
  std::vector<int32_t> labels;  // n
};

// Images from an IDX file (uint8 scaled to [0, 1]) or a float32 .npy [N, H, W, C]
// (or [N, H, W] meaning C = 1), told apart by content. Errors name the file.
Dataset load_images(const std::string& path);
// Labels from an IDX file or an int32/int64 .npy [N], appended to d after
// checking the count and that every label is in [0, classes).
void load_labels(Dataset& d, const std::string& path, int64_t classes);

// ---- the training loop --------------------------------------------------------

struct FitOptions {
  TrainRecipe recipe;       // the model's recipe with command-line overrides applied
  int64_t max_steps = -1;   // --steps: stop after this many batches in all
  std::string checkpoint;   // written at the end of every epoch (and <stem>.best.safetensors)
  std::string resume;       // continue from this checkpoint
  std::string save;         // final weights
  bool verbose = true;      // epoch lines (and a progress bar on a terminal)
};

struct EpochRecord {
  int epoch = 0;
  double loss = 0, accuracy = 0, val_loss = 0, val_accuracy = 0, seconds = 0, lr = 0;
  bool has_val = false;
};

// Mean loss and accuracy of the network (inference mode) on a data set.
void evaluate(Network& net, const Dataset& d, double* loss, double* accuracy);
// Trains as the recipe says; prints a Keras-like line per epoch. Returns history.
std::vector<EpochRecord> fit(Network& net, const Dataset& train, const Dataset* val,
                             const FitOptions& options);

// ---- drivers (what `cnnc train` and `cnnc run` execute) -----------------------

// Parses the train flags of `cnnc train` and runs fit; returns the exit code.
int train_main(Network& net, int argc, char** argv);
// --weights W.safetensors --input X.npy --output Y.npy; returns the exit code.
int run_main(Network& net, int argc, char** argv);
// `cnnc bench`: --batch N --iters K [--warmup W] [--train] [--json] [--profile];
// prints the median time of K runs after W warm-up runs (with --json, also one
// JSON object with median_ms and images_per_s on the last line). --profile
// adds a table of the inference kernel calls: median time, share, GFLOP/s and
// schedule. Returns the exit code.
int bench_main(Network& net, int argc, char** argv);

// Threads used by the kernels: CNNC_NUM_THREADS, else all cores.
void set_num_threads(int n);

}  // namespace cnnc

#endif  // CNNC_RUNTIME_H_
