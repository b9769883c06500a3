// Places every arena tensor by liveness: tensors whose lifetimes (first to last
// step that touches them, inclusive) overlap get disjoint memory; the others
// may share it. Inference and training never run at once, so each is planned
// on its own and the arena is the larger of the two.
#include <algorithm>

#include "compiler/lower/program.h"

namespace cnnc::lower {
namespace {

struct Life {
  int first = -1, last = -1;
};

int64_t tensor_floats(const Program& p, const ArenaTensor& t) {
  int64_t floats = t.per_image ? t.floats_per_image * p.max_batch : t.floats_per_image;
  return (floats + 15) / 16 * 16;  // 64-byte aligned places
}

// Lifetimes of the tensors one sequence of steps touches.
std::vector<Life> lifetimes(const Program& p, const std::vector<const std::vector<Step>*>& parts,
                            const std::vector<int>& read_after_end) {
  std::vector<Life> life(p.tensors.size());
  int index = 0;
  for (const auto* steps : parts) {
    for (const Step& st : *steps) {
      for (const auto& [name, o] : st.operands) {
        if (o.space != Space::Arena || o.tensor < 0) continue;
        Life& l = life[o.tensor];
        if (l.first < 0) l.first = index;
        l.last = index;
      }
      ++index;
    }
  }
  for (int t : read_after_end) {
    if (t >= 0 && life[t].first >= 0) life[t].last = index;
  }
  return life;
}

// Greedy: largest first, each at the lowest offset clear of every placed
// tensor that is alive at the same time. Returns the arena size in floats.
int64_t place(Program& p, const std::vector<Life>& life) {
  std::vector<int> order;
  for (size_t t = 0; t < life.size(); ++t) {
    if (life[t].first >= 0) order.push_back(int(t));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return tensor_floats(p, p.tensors[a]) > tensor_floats(p, p.tensors[b]);
  });
  std::vector<int> placed;
  int64_t size = 0;
  for (int t : order) {
    int64_t need = tensor_floats(p, p.tensors[t]);
    // Address ranges of the placed tensors alive together with t, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int o : placed) {
      if (life[o].last < life[t].first || life[t].last < life[o].first) continue;
      busy.push_back({p.tensors[o].offset, p.tensors[o].offset + tensor_floats(p, p.tensors[o])});
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    for (const auto& [begin, end] : busy) {
      if (offset + need <= begin) break;
      offset = std::max(offset, end);
    }
    p.tensors[t].offset = offset;
    size = std::max(size, offset + need);
    placed.push_back(t);
  }
  return size;
}

}  // namespace

void plan_memory(Program& p, bool share) {
  p.unplanned_arena_floats = 0;
  for (const ArenaTensor& t : p.tensors) p.unplanned_arena_floats += tensor_floats(p, t);
  if (!share) {
    int64_t offset = 0;
    for (ArenaTensor& t : p.tensors) {
      t.offset = offset;
      offset += tensor_floats(p, t);
    }
    p.arena_floats = offset;
    return;
  }
  int64_t infer = place(p, lifetimes(p, {&p.infer}, {}));
  int64_t train = 0;
  if (p.has_training) {
    // The training step reads the loss and probabilities after its last kernel.
    train = place(p, lifetimes(p, {&p.train, &p.update}, {int(p.loss_tensor), int(p.probs_tensor)}));
  }
  p.arena_floats = std::max(infer, train);
}

}  // namespace cnnc::lower
