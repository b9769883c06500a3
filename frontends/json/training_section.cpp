#include "frontends/json/training_section.h"

#include <algorithm>
#include <limits>

namespace cnnc::frontend {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

// Reads the fields of one object of the section, each through a callback that
// runs only when the field is present.
class Section {
 public:
  Section(const json& object, const Site& site, Diagnostics& d, const std::string& what,
          const std::vector<std::string>& fields)
      : object_(object), site_(site), d_(d), ok_(object.is_object()) {
    if (!ok_) {
      d_.error(site, what + " must be an object, not " + brief(object));
      return;
    }
    check_known_keys(object, site, d, fields, what, "field");
  }
  bool ok() const { return ok_; }
  const json* find(const char* key) const {
    if (!ok_) return nullptr;
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  Site at(const char* key) const { return site_.at(key); }

  void get_int(const char* key, int64_t lo, int* out) {
    int64_t v;
    if (const json* j = find(key); j && read_int(*j, at(key), d_, lo, kMaxInt, &v)) *out = int(v);
  }
  void get_real(const char* key, double lo, double hi, bool lo_open, bool hi_open, double* out) {
    if (const json* j = find(key)) read_real(*j, at(key), d_, lo, hi, lo_open, hi_open, out);
  }
  void get_bool(const char* key, bool* out) {
    if (const json* j = find(key)) read_bool(*j, at(key), d_, out);
  }
  void get_choice(const char* key, const std::vector<std::string>& choices, std::string* out) {
    if (const json* j = find(key)) read_choice(*j, at(key), d_, choices, out);
  }

 private:
  const json& object_;
  Site site_;
  Diagnostics& d_;
  bool ok_;
};

// Keras's old metric names ("val_acc") mean the new ones.
std::string canonical_monitor(const std::string& m) {
  if (m == "val_acc") return "val_accuracy";
  if (m == "acc") return "accuracy";
  return m;
}
const std::vector<std::string> kMonitors = {"val_accuracy", "val_loss", "accuracy",
                                            "loss",         "val_acc",  "acc"};

void read_optimizer(const json& v, const Site& site, Diagnostics& d, TrainRecipe* r) {
  if (v.is_string()) {  // Keras's optimizer="sgd"
    std::string type;
    read_choice(v, site, d, {"sgd"}, &type);
    return;
  }
  Section s(v, site, d, "the optimizer", {"type", "learning_rate", "momentum", "nesterov"});
  std::string type;
  s.get_choice("type", {"sgd"}, &type);
  s.get_real("learning_rate", 0, kInf, true, false, &r->learning_rate);
  s.get_real("momentum", 0, 1, false, false, &r->momentum);
  s.get_bool("nesterov", &r->nesterov);
}

void read_piecewise(Section& s, const Site& site, Diagnostics& d, LrSchedule* sched) {
  const json* boundaries = s.find("boundaries");
  const json* values = s.find("values");
  if (!boundaries || !values) {
    d.error(site,
            "a piecewise schedule needs \"boundaries\" (epochs) and \"values\" (one more "
            "rate than boundaries)");
    return;
  }
  bool ok = true;
  if (!boundaries->is_array()) {
    d.error(s.at("boundaries"), "must be a list of epochs, not " + brief(*boundaries));
    ok = false;
  }
  if (!values->is_array() || values->empty()) {
    d.error(s.at("values"), "must be a non-empty list of learning rates, not " + brief(*values));
    ok = false;
  }
  if (!ok) return;
  for (size_t i = 0; i < boundaries->size(); ++i) {
    int64_t b;
    if (!read_int((*boundaries)[i], s.at("boundaries").at(i), d, 0, kMaxInt, &b)) continue;
    if (!sched->boundaries.empty() && b <= sched->boundaries.back()) {
      d.error(s.at("boundaries").at(i), "boundaries must increase");
    }
    sched->boundaries.push_back(int(b));
  }
  for (size_t i = 0; i < values->size(); ++i) {
    double v;
    if (read_real((*values)[i], s.at("values").at(i), d, 0, kInf, false, false, &v)) {
      sched->values.push_back(v);
    }
  }
  if (values->size() != boundaries->size() + 1) {
    d.error(s.at("values"), "needs one more value than there are boundaries (" +
                                std::to_string(boundaries->size() + 1) + "), got " +
                                std::to_string(values->size()));
  }
}

void read_schedule(const json& v, const Site& site, Diagnostics& d, TrainRecipe* r) {
  LrSchedule& sched = r->schedule;
  sched.initial = r->learning_rate;  // step / plateau start from the optimizer's rate
  const std::vector<std::string> all_fields = {"type",  "boundaries", "values", "initial", "factor",
                                               "every", "patience",   "min_lr", "monitor"};
  Section s(v, site, d, "lr_schedule", all_fields);
  if (!s.ok()) return;
  std::string type;
  if (!s.find("type")) {
    d.error(site, "missing \"type\"; use \"constant\", \"piecewise\", \"step\" or \"plateau\"");
    return;
  }
  s.get_choice("type", {"constant", "piecewise", "step", "plateau"}, &type);
  // Fields each type reads; any other is a mistake worth reporting.
  std::vector<std::string> fields = {"type"};
  if (type == "constant") {
    sched.type = LrSchedule::Type::Constant;
  } else if (type == "piecewise") {
    sched.type = LrSchedule::Type::Piecewise;
    fields.insert(fields.end(), {"boundaries", "values"});
    read_piecewise(s, site, d, &sched);
  } else if (type == "step") {
    sched.type = LrSchedule::Type::Step;
    fields.insert(fields.end(), {"initial", "factor", "every"});
    s.get_real("initial", 0, kInf, true, false, &sched.initial);
    s.get_real("factor", 0, kInf, true, false, &sched.factor);
    s.get_int("every", 1, &sched.every);
  } else if (type == "plateau") {
    sched.type = LrSchedule::Type::Plateau;
    fields.insert(fields.end(), {"initial", "factor", "patience", "min_lr", "monitor"});
    s.get_real("initial", 0, kInf, true, false, &sched.initial);
    s.get_real("factor", 0, 1, true, true, &sched.factor);
    s.get_int("patience", 0, &sched.patience);
    s.get_real("min_lr", 0, kInf, false, false, &sched.min_lr);
    s.get_choice("monitor", kMonitors, &sched.monitor);
    sched.monitor = canonical_monitor(sched.monitor);
  } else {
    return;
  }
  for (const auto& item : v.items()) {
    const bool known = std::count(all_fields.begin(), all_fields.end(), item.key()) > 0;
    if (known && std::find(fields.begin(), fields.end(), item.key()) == fields.end()) {
      d.error(s.at(item.key().c_str()), "a \"" + type + "\" schedule does not use \"" + item.key() +
                                            "\"; it reads " + join_words(fields));
    }
  }
}

}  // namespace

void read_training(const json& training, Diagnostics& d, TrainRecipe* r) {
  const Site site{"/training", ""};
  Section s(training, site, d, "training",
            {"batch_size", "epochs", "loss", "optimizer", "lr_schedule", "shuffle", "seed",
             "checkpoint", "augmentation"});
  if (!s.ok()) return;
  s.get_int("batch_size", 1, &r->batch_size);
  s.get_int("epochs", 1, &r->epochs);
  std::string loss;
  s.get_choice("loss", {"categorical_crossentropy", "sparse_categorical_crossentropy"}, &loss);
  if (const json* opt = s.find("optimizer")) read_optimizer(*opt, s.at("optimizer"), d, r);
  // After the optimizer: the schedule's defaults come from its learning rate.
  if (const json* sched = s.find("lr_schedule")) read_schedule(*sched, s.at("lr_schedule"), d, r);
  s.get_bool("shuffle", &r->shuffle);
  if (const json* seed = s.find("seed")) {
    if (seed->is_number_unsigned()) {
      r->seed = seed->get<uint64_t>();
    } else {
      int64_t v;
      if (read_int(*seed, s.at("seed"), d, 0, std::numeric_limits<int64_t>::max(), &v)) r->seed = v;
    }
  }
  if (const json* cp = s.find("checkpoint")) {
    Section c(*cp, s.at("checkpoint"), d, "checkpoint", {"monitor", "save_best_only"});
    c.get_choice("monitor", kMonitors, &r->checkpoint_monitor);
    r->checkpoint_monitor = canonical_monitor(r->checkpoint_monitor);
    c.get_bool("save_best_only", &r->save_best_only);
  }
  if (const json* aug = s.find("augmentation")) {
    Section a(*aug, s.at("augmentation"), d, "augmentation",
              {"random_crop_padding", "horizontal_flip"});
    a.get_int("random_crop_padding", 0, &r->augmentation.random_crop_padding);
    a.get_bool("horizontal_flip", &r->augmentation.horizontal_flip);
  }
}

}  // namespace cnnc::frontend
