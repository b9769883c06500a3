// The "training" section: every schedule type, optimizer forms, defaults.
#include <gtest/gtest.h>

#include "tests/frontend/frontend_test_util.h"

namespace cnnc::frontend::testing {
namespace {

TrainRecipe recipe_of(const json& training) {
  json model = model_json({{{"type", "Flatten"}}});
  model["training"] = training;
  const Model m = parse_ok(model);
  EXPECT_TRUE(m.has_training_section);
  return m.recipe;
}

TEST(Training, DefaultsWithoutSection) {
  const Model m = parse_ok(model_json({{{"type", "Flatten"}}}));
  EXPECT_FALSE(m.has_training_section);
  EXPECT_EQ(m.recipe.batch_size, 32);
  EXPECT_EQ(m.recipe.schedule.type, LrSchedule::Type::Constant);
}

TEST(Training, NesterovStepAugmentationSeed) {
  const TrainRecipe r = recipe_of(json::parse(R"({
    "optimizer": {"type": "sgd", "learning_rate": 0.1, "momentum": 0.9, "nesterov": true},
    "lr_schedule": {"type": "step", "factor": 0.5, "every": 3},
    "seed": 18446744073709551615, "shuffle": false, "loss": "sparse_categorical_crossentropy",
    "augmentation": {"random_crop_padding": 4, "horizontal_flip": true},
    "checkpoint": {"monitor": "val_acc", "save_best_only": false}})"));
  EXPECT_TRUE(r.nesterov);
  EXPECT_DOUBLE_EQ(r.momentum, 0.9);
  EXPECT_EQ(r.schedule.type, LrSchedule::Type::Step);
  EXPECT_DOUBLE_EQ(r.schedule.initial, 0.1);  // from the optimizer
  EXPECT_DOUBLE_EQ(r.schedule.factor, 0.5);
  EXPECT_EQ(r.schedule.every, 3);
  EXPECT_EQ(r.seed, 18446744073709551615u);
  EXPECT_FALSE(r.shuffle);
  EXPECT_EQ(r.augmentation.random_crop_padding, 4);
  EXPECT_TRUE(r.augmentation.horizontal_flip);
  EXPECT_EQ(r.checkpoint_monitor, "val_accuracy");
  EXPECT_FALSE(r.save_best_only);
}

TEST(Training, PlateauAndOptimizerString) {
  const TrainRecipe r = recipe_of(json::parse(R"({
    "optimizer": "sgd",
    "lr_schedule": {"type": "plateau", "initial": 0.05, "factor": 0.2, "patience": 2,
                    "min_lr": 1e-6, "monitor": "val_loss"}})"));
  EXPECT_EQ(r.schedule.type, LrSchedule::Type::Plateau);
  EXPECT_DOUBLE_EQ(r.schedule.initial, 0.05);
  EXPECT_DOUBLE_EQ(r.schedule.factor, 0.2);
  EXPECT_EQ(r.schedule.patience, 2);
  EXPECT_DOUBLE_EQ(r.schedule.min_lr, 1e-6);
  EXPECT_EQ(r.schedule.monitor, "val_loss");
}

TEST(Training, BadSections) {
  json model = model_json({{{"type", "Flatten"}}});
  model["training"] = json::parse(R"({"lr_schedule": {"type": "cosine"}, "epochs": "ten",
                                      "augmentation": {"flip": true}, "seed": -1})");
  const std::string message = parse_error(model);
  for (const char* fragment :
       {"/training/lr_schedule/type: \"cosine\" is not allowed here; use one of \"constant\"",
        "/training/epochs: must be a whole number, not a string",
        "/training/augmentation: unknown field \"flip\"", "/training/seed: must be at least 0"}) {
    EXPECT_NE(message.find(fragment), std::string::npos) << fragment << "\nin:\n" << message;
  }
  model["training"] = json::array();
  EXPECT_NE(parse_error(model).find("/training: training must be an object"), std::string::npos);
}

}  // namespace
}  // namespace cnnc::frontend::testing
