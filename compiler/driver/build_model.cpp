#include "compiler/driver/build_model.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>

#include "compiler/codegen/codegen.h"
#include "compiler/driver/process.h"
#include "compiler/driver/tuning.h"
#include "compiler/ir/verifier.h"
#include "compiler/kernels/kernel_cache.h"
#include "compiler/lower/program.h"
#include "compiler/passes/passes.h"
#include "frontends/json/json_frontend.h"
#include "runtime/include/cnnc_runtime.h"

namespace cnnc::driver {
namespace fs = std::filesystem;

#ifndef CNNC_EXTRA_FLAGS
#define CNNC_EXTRA_FLAGS ""
#endif

// Adds the flags this cnnc was built with that generated code needs too.
std::vector<std::string> with_extra_flags(std::vector<std::string> command) {
  if (*CNNC_EXTRA_FLAGS) command.insert(command.begin() + 1, CNNC_EXTRA_FLAGS);
  return command;
}

namespace {

std::vector<kernels::KernelSpec> distinct_specs(const lower::Program& p) {
  std::map<std::string, kernels::KernelSpec> by_key;
  for (const auto* steps : {&p.prepare, &p.infer, &p.train, &p.update}) {
    for (const lower::Step& st : *steps) by_key.emplace(st.spec.key(), st.spec);
  }
  std::vector<kernels::KernelSpec> specs;
  for (auto& [key, spec] : by_key) specs.push_back(spec);
  return specs;
}

void copy_file(const std::string& from, const std::string& to) {
  write_file_atomic(to, read_file(from));
}

// lib<name>.a from the generated object, the kernels, the Halide runtime and
// cnnc's runtime library, merged with an ar script.
void archive(const std::string& library, const std::vector<std::string>& objects,
             const std::string& runtime_library, const std::string& work_dir) {
  std::string tmp = library + ".tmp" + std::to_string(getpid());
  std::ostringstream script;
  script << "CREATE " << tmp << "\n";
  for (const std::string& o : objects) script << "ADDMOD " << o << "\n";
  script << "ADDLIB " << runtime_library << "\nSAVE\nEND\n";
  std::string script_path = work_dir + "/archive.mri";
  write_file_atomic(script_path, script.str());
  run_checked({"sh", "-c", "ar -M < '" + script_path + "'"}, "creating " + library);
  run_checked({"ranlib", tmp}, "indexing " + library);
  fs::rename(tmp, library);
}

std::string gib(double bytes) {
  char buf[64];
  bool large = bytes >= 1024.0 * 1024 * 1024;
  std::snprintf(buf, sizeof buf, "%.2f %s (%.0f bytes)",
                bytes / (large ? 1024.0 * 1024 * 1024 : 1024.0 * 1024), large ? "GiB" : "MiB", bytes);
  return buf;
}

// What a model instance allocates: parameters, gradients and velocity (and the
// derived inference weights), the arena. Refused before any kernel is built.
void check_memory(const std::string& name, const lower::Program& p,
                  const lower::ParamLayout& params, const BuildOptions& o) {
  double param_bytes = 4.0 * double(params.total_floats) * (p.has_training ? 3 : 2);
  double bytes = param_bytes + 4.0 * double(p.derived_floats) + 4.0 * double(p.arena_floats);
  double limit = double(o.memory_limit);
  if (limit <= 0) limit = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE));
  if (bytes <= limit) return;
  throw Error("model '" + name + "' needs " + gib(bytes) + " at batch " +
              std::to_string(p.max_batch) + " (arena " + gib(4.0 * double(p.arena_floats)) +
              ", parameters and optimiser state " + gib(param_bytes) + "), more than the limit of " +
              gib(limit) + (o.memory_limit > 0 ? " (--memory-limit)" : " (this machine's memory)") +
              "; use a smaller --batch, --inference-only, or raise --memory-limit");
}

}  // namespace

int64_t parse_bytes(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(std::min(used, text.size()));
  double scale = unit.empty() || unit == "B" ? 1
                 : unit == "K" || unit == "KiB" ? 1024.0
                 : unit == "M" || unit == "MiB" ? 1024.0 * 1024
                 : unit == "G" || unit == "GiB" ? 1024.0 * 1024 * 1024
                 : unit == "T" || unit == "TiB" ? 1024.0 * 1024 * 1024 * 1024
                                                : -1;
  if (value <= 0 || scale < 0 || value * scale > 9e18) {
    throw Error(flag + " " + text + ": expected a size such as 512M, 8G or a number of bytes");
  }
  return int64_t(value * scale);
}

BuiltModel build_model(const BuildOptions& o) {
  frontend::Model model = frontend::load_model_file(o.model_path);
  const ir::Graph& g = model.graph;
  ir::verify(g);
  BuiltModel built;
  built.name = g.name;
  built.max_batch = o.max_batch > 0 ? o.max_batch : model.recipe.batch_size;
  if (built.max_batch < 1 || built.max_batch > 65536) {
    throw Error("--batch " + std::to_string(built.max_batch) + " is out of range; use 1 to 65536");
  }
  std::vector<std::string> enabled = passes::parse_pass_list(o.passes);
  ir::Graph inference = g;
  passes::run_passes(inference, enabled, {/*training=*/false, nullptr});
  ir::Graph training = g;
  if (o.training) passes::run_passes(training, enabled, {/*training=*/true, nullptr});
  std::unique_ptr<kernels::KernelCache> made;
  try {
    made = std::make_unique<kernels::KernelCache>(cache_dir() + "/kernels", o.target);
  } catch (const std::invalid_argument& e) {
    throw Error(std::string("--target: ") + e.what());
  }
  kernels::KernelCache& cache = *made;
  Tuning tuning;
  lower::LowerOptions lowering{passes::pass_enabled(enabled, "plan_memory"),
                               passes::pass_enabled(enabled, "gemm_1x1"),
                               {},
                               passes::pass_enabled(enabled, "concat_in_place"),
                               true,
                               {},
                               {}};
  // Winograd has CPU schedules only; its weight transform runs in the host's prepare().
  lowering.winograd = !cache.cuda();
  lowering.pair_data_gradients = passes::pass_enabled(enabled, "pair_strided_1x1") && !cache.cuda();
  if (!o.tuning.empty()) {
    tuning = read_tuning(o.tuning, o.model_path, read_file(o.model_path), cache.target_string());
    lowering.direct_1x1 = layers_lowered_as(tuning, "direct");
    lowering.gemm_layers = layers_lowered_as(tuning, "gemm");
    lowering.conv_algo = conv_algo_layers(tuning);
  }
  lower::Program program = lower::lower_program(g, inference, o.training ? &training : nullptr,
                                                built.max_batch, lowering);
  if (!o.tuning.empty()) apply_tuning(tuning, o.tuning, program);
  lower::ParamLayout params = lower::layout_params(g);
  check_memory(g.name, program, params, o);

  Toolchain tools = find_toolchain();
  std::vector<kernels::KernelSpec> specs = distinct_specs(program);
  if (o.verbose) {
    std::cerr << "cnnc: " << g.name << ": " << specs.size() << " kernels for "
              << cache.target_string() << "\n";
  }
  std::vector<kernels::CompiledKernel> compiled = cache.get_all(specs, 2);
  std::map<std::string, kernels::KernelSignature> signatures;
  std::vector<std::string> objects;
  for (size_t i = 0; i < specs.size(); ++i) {
    signatures[specs[i].key()] = compiled[i].signature;
    objects.push_back(compiled[i].object_path);
  }
  objects.push_back(cache.runtime_object());

  codegen::ModelSource source{g, program, params, model.recipe, o.model_path, signatures};
  source.cuda = cache.cuda();
  make_dirs(o.out_dir);
  built.header = o.out_dir + "/" + g.name + ".h";
  built.library = o.out_dir + "/lib" + g.name + ".a";
  std::string cpp = o.out_dir + "/" + g.name + ".cpp";
  write_file_atomic(built.header, codegen::emit_header(source));
  write_file_atomic(cpp, codegen::emit_source(source));
  copy_file(tools.runtime_include + "/cnnc_runtime.h", o.out_dir + "/cnnc_runtime.h");

  std::string work = o.out_dir + "/.cnnc-build-" + std::to_string(getpid());
  make_dirs(work);
  std::string object = work + "/" + g.name + ".o";
  run_checked(with_extra_flags({tools.cxx, "-std=c++17", "-O2", "-fPIC", "-I" + o.out_dir,
                               "-I" + tools.runtime_include, "-I" + tools.halide_include, "-c", cpp,
                               "-o", object}),
              "compiling the generated " + cpp);
  objects.insert(objects.begin(), object);
  archive(built.library, objects, tools.runtime_library, work);
  fs::remove_all(work);
  return built;
}

std::string cached_driver(const BuildOptions& options) {
  std::string text = read_file(options.model_path);
  std::ostringstream key;
  key << text << "\n" << options.target << "\n" << options.max_batch << "\n"
      << options.training << "\n" << options.passes << "\n" << options.memory_limit << "\n"
      << build_id();
  // What the generated code includes and links besides cnnc itself: a change
  // to the runtime's headers or library alone must not reuse stale builds.
  const Toolchain tools = find_toolchain();
  for (const char* header : {"cnnc_runtime.h", "cnnc_kernel_abi.h", "cnnc_cuda_abi.h"}) {
    key << "\n" << read_file(tools.runtime_include + "/" + header);
  }
  key << "\n" << file_id(tools.runtime_library);
  // The tuning file's contents (it is read again when the library is built).
  if (!options.tuning.empty()) key << "\ntuning\n" << read_file(options.tuning);
  std::string dir = cache_dir() + "/models/" + std::to_string(std::hash<std::string>{}(key.str()));
  std::string driver = dir + "/cnnc_model_driver";
  if (fs::exists(driver)) return driver;

  // Built in a folder of our own and renamed into place, so that processes
  // building the same model at once never see (or delete) each other's files.
  std::string building = dir + ".building-" + std::to_string(getpid());
  fs::remove_all(building);
  BuildOptions o = options;
  o.out_dir = building;
  BuiltModel built = build_model(o);
  std::string main_cpp = building + "/driver.cpp";
  write_file_atomic(main_cpp,
                    "// The executable behind `cnnc train` and `cnnc run`.\n"
                    "#include <cstring>\n#include <cstdio>\n\n#include \"" + built.name +
                        ".h\"\n\nint main(int argc, char** argv) {\n"
                        "  " + built.name + "::Model model;\n"
                        "  if (argc > 1 && std::strcmp(argv[1], \"train\") == 0) "
                        "return cnnc::train_main(model, argc - 1, argv + 1);\n"
                        "  if (argc > 1 && std::strcmp(argv[1], \"run\") == 0) "
                        "return cnnc::run_main(model, argc - 1, argv + 1);\n"
                        "  if (argc > 1 && std::strcmp(argv[1], \"bench\") == 0) "
                        "return cnnc::bench_main(model, argc - 1, argv + 1);\n"
                        "  std::fprintf(stderr, \"usage: %s train|run|bench ...\\n\", argv[0]);\n"
                        "  return 2;\n}\n");
  run_checked(with_extra_flags({tools.cxx, "-std=c++17", "-O2", "-I" + building, main_cpp, "-o",
                               building + "/cnnc_model_driver", "-L" + building, "-l" + built.name,
                               "-lpthread", "-ldl"}),
              "linking the model driver");
  std::error_code ec;
  fs::rename(building, dir, ec);  // fails if another process got there first
  if (ec) fs::remove_all(building);
  if (!fs::exists(driver)) throw Error("cannot put the built model in " + dir + ": " + ec.message());
  return driver;
}

}  // namespace cnnc::driver
