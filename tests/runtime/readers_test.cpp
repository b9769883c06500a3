// .npy, IDX and safetensors readers on good, corrupt and truncated files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "runtime/src/npy.h"
#include "runtime/src/safetensors.h"
#include "tests/runtime/test_support.h"

namespace cnnc::testing {
namespace {

using ::testing::HasSubstr;

std::vector<char> idx_file(int rank, const std::vector<uint32_t>& dims, size_t data_bytes,
                           unsigned char fill = 255) {
  std::vector<char> bytes = {0, 0, 0x08, static_cast<char>(rank)};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(d >> shift));
  }
  bytes.insert(bytes.end(), data_bytes, static_cast<char>(fill));
  return bytes;
}

TEST(Npy, RoundTripsFloatAndIntegerArrays) {
  TempDir dir;
  std::vector<float> f = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  detail::write_npy(dir.path("f.npy"), "<f4", {2, 3}, f.data());
  detail::NpyArray a = detail::read_npy(dir.path("f.npy"));
  EXPECT_EQ(a.dtype, "<f4");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(0, std::memcmp(a.data.data(), f.data(), 24));
  std::vector<int64_t> l = {0, 2, 1};
  detail::write_npy(dir.path("l.npy"), "<i8", {3}, l.data());
  EXPECT_EQ(detail::read_npy(dir.path("l.npy")).shape, (std::vector<int64_t>{3}));
  // The header is padded so that the data starts at a multiple of 64.
  EXPECT_EQ((read_bytes(dir.path("l.npy")).size() - 24) % 64, 0u);
}

TEST(Npy, ReadsVersion2Headers) {
  TempDir dir;
  std::string dict = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }";
  dict.append(64 - (12 + dict.size() + 1) % 64, ' ');
  dict += '\n';
  std::vector<char> bytes = {'\x93', 'N', 'U', 'M', 'P', 'Y', 2, 0};
  uint32_t length = static_cast<uint32_t>(dict.size());
  bytes.insert(bytes.end(), reinterpret_cast<char*>(&length), reinterpret_cast<char*>(&length) + 4);
  bytes.insert(bytes.end(), dict.begin(), dict.end());
  int32_t values[2] = {4, 5};
  bytes.insert(bytes.end(), reinterpret_cast<char*>(values), reinterpret_cast<char*>(values) + 8);
  write_bytes(dir.path("v2.npy"), bytes);
  Dataset d;
  d.n = 2;
  load_labels(d, dir.path("v2.npy"), 10);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{4, 5}));
}

TEST(Npy, RefusesFortranOrderOtherDtypesAndTruncation) {
  TempDir dir;
  float f[4] = {1, 2, 3, 4};
  detail::write_npy(dir.path("a.npy"), "<f4", {2, 2}, f);
  std::vector<char> good = read_bytes(dir.path("a.npy"));
  std::string text(good.begin(), good.end());

  std::string fortran = text;
  fortran.replace(fortran.find("False"), 5, "True ");
  write_bytes(dir.path("fortran.npy"), {fortran.begin(), fortran.end()});
  EXPECT_THAT(error_of([&] { detail::read_npy(dir.path("fortran.npy")); }),
              HasSubstr("Fortran order"));

  std::string f8 = text;
  f8.replace(f8.find("<f4"), 3, "<f8");
  write_bytes(dir.path("f8.npy"), {f8.begin(), f8.end()});
  EXPECT_THAT(error_of([&] { load_images(dir.path("f8.npy")); }), HasSubstr("'<f8'"));

  write_bytes(dir.path("short.npy"), {good.begin(), good.end() - 3});
  std::string message = error_of([&] { detail::read_npy(dir.path("short.npy")); });
  EXPECT_THAT(message, HasSubstr("short.npy"));
  EXPECT_THAT(message, HasSubstr("truncated"));

  write_bytes(dir.path("header.npy"), {good.begin(), good.begin() + 20});
  EXPECT_THAT(error_of([&] { detail::read_npy(dir.path("header.npy")); }), HasSubstr("truncated"));
}

TEST(LoadImages, ReadsNpyWithAndWithoutChannels) {
  TempDir dir;
  std::vector<float> pixels(2 * 3 * 3, 0.5f);
  detail::write_npy(dir.path("x.npy"), "<f4", {2, 3, 3}, pixels.data());
  Dataset d = load_images(dir.path("x.npy"));
  EXPECT_EQ(d.n, 2);
  EXPECT_EQ(d.h, 3);
  EXPECT_EQ(d.c, 1);
  detail::write_npy(dir.path("y.npy"), "<f4", {1, 3, 2, 3}, pixels.data());
  EXPECT_EQ(load_images(dir.path("y.npy")).c, 3);
  detail::write_npy(dir.path("z.npy"), "<f4", {18}, pixels.data());
  EXPECT_THAT(error_of([&] { load_images(dir.path("z.npy")); }), HasSubstr("[N, H, W, C]"));
}

TEST(LoadLabels, ChecksCountRangeAndDtype) {
  TempDir dir;
  Dataset d;
  d.n = 3;
  int32_t labels[3] = {0, 1, 9};
  detail::write_npy(dir.path("l.npy"), "<i4", {3}, labels);
  EXPECT_THAT(error_of([&] { load_labels(d, dir.path("l.npy"), 3); }),
              HasSubstr("label 2 is 9, outside [0, 3)"));
  load_labels(d, dir.path("l.npy"), 10);
  EXPECT_EQ(d.labels[2], 9);
  d.n = 4;
  EXPECT_THAT(error_of([&] { load_labels(d, dir.path("l.npy"), 10); }),
              HasSubstr("has 3 labels but the images number 4"));
  float wrong[3] = {0, 1, 2};
  detail::write_npy(dir.path("f.npy"), "<f4", {3}, wrong);
  d.n = 3;
  EXPECT_THAT(error_of([&] { load_labels(d, dir.path("f.npy"), 10); }),
              HasSubstr("int32 or int64"));
}

TEST(Idx, ReadsImagesAndLabels) {
  TempDir dir;
  std::vector<char> images = idx_file(3, {2, 2, 3}, 12, 255);
  images[16] = 0;
  write_bytes(dir.path("images"), images);
  std::vector<char> labels = idx_file(1, {2}, 0);
  labels.push_back(7);
  labels.push_back(static_cast<char>(200));
  write_bytes(dir.path("labels"), labels);
  Dataset d = load_images(dir.path("images"));
  EXPECT_EQ(d.n, 2);
  EXPECT_EQ(d.h, 2);
  EXPECT_EQ(d.w, 3);
  EXPECT_EQ(d.c, 1);
  EXPECT_EQ(d.images[0], 0.0f);
  EXPECT_EQ(d.images[1], 1.0f);
  EXPECT_THAT(error_of([&] { load_labels(d, dir.path("labels"), 10); }),
              HasSubstr("label 1 is 200"));
  load_labels(d, dir.path("labels"), 256);
  EXPECT_EQ(d.labels, (std::vector<int32_t>{7, 200}));
}

TEST(Idx, RefusesGzipTruncationWrongRankAndType) {
  TempDir dir;
  write_bytes(dir.path("gz"), {'\x1f', '\x8b', 8, 0, 0, 0});
  EXPECT_THAT(error_of([&] { load_images(dir.path("gz")); }), HasSubstr("decompress it first"));
  std::vector<char> images = idx_file(3, {2, 2, 3}, 11);
  write_bytes(dir.path("short"), images);
  std::string message = error_of([&] { load_images(dir.path("short")); });
  EXPECT_THAT(message, HasSubstr("short"));
  EXPECT_THAT(message, HasSubstr("truncated"));
  write_bytes(dir.path("labels"), idx_file(1, {12}, 12));
  EXPECT_THAT(error_of([&] { load_images(dir.path("labels")); }), HasSubstr("1 dimensions"));
  std::vector<char> ints = idx_file(3, {1, 1, 1}, 1);
  ints[2] = 0x0c;
  write_bytes(dir.path("ints"), ints);
  EXPECT_THAT(error_of([&] { load_images(dir.path("ints")); }), HasSubstr("0x0c"));
  write_bytes(dir.path("text"), {'h', 'e', 'l', 'l', 'o'});
  EXPECT_THAT(error_of([&] { load_images(dir.path("text")); }), HasSubstr("neither"));
  EXPECT_THAT(error_of([&] { load_images(dir.path("absent")); }), HasSubstr("cannot open"));
}

std::vector<char> safetensors_with_header(const std::string& header, size_t data_bytes) {
  // Sized once and filled in place (GCC 12 warned, falsely, on growing an
  // 8-byte vector by insert: -Warray-bounds).
  std::vector<char> bytes(8 + header.size() + data_bytes, 0);
  const uint64_t length = header.size();
  std::memcpy(bytes.data(), &length, 8);
  std::copy(header.begin(), header.end(), bytes.begin() + 8);
  return bytes;
}

TEST(Safetensors, RefusesMalformedFiles) {
  TempDir dir;
  auto message_for = [&](const std::vector<char>& bytes) {
    write_bytes(dir.path("w.safetensors"), bytes);
    return error_of([&] { detail::read_safetensors(dir.path("w.safetensors")); });
  };
  const std::string a = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  EXPECT_EQ(message_for(safetensors_with_header("{" + a + "}", 8)), "");
  EXPECT_THAT(message_for(safetensors_with_header("{" + a + "}", 4)), HasSubstr("truncated"));
  EXPECT_THAT(message_for(safetensors_with_header("{" + a + "}", 12)), HasSubstr("after the last"));
  EXPECT_THAT(message_for({1, 2, 3}), HasSubstr("too short"));
  std::vector<char> huge = safetensors_with_header("{" + a + "}", 8);
  huge[5] = 1;
  EXPECT_THAT(message_for(huge), HasSubstr("header length"));
  EXPECT_THAT(message_for(safetensors_with_header("{\"a\":", 0)), HasSubstr("not valid JSON"));
  EXPECT_THAT(message_for(safetensors_with_header(
                  R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4)),
              HasSubstr("dtype F16"));
  EXPECT_THAT(message_for(safetensors_with_header(
                  R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8)),
              HasSubstr("needs 12 bytes"));
  EXPECT_THAT(message_for(safetensors_with_header(
                  "{" + a + R"(,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
              HasSubstr("overlap"));
  EXPECT_THAT(message_for(safetensors_with_header(
                  R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8)),
              HasSubstr("belong to no tensor"));
  EXPECT_THAT(message_for(safetensors_with_header(
                  R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0)),
              HasSubstr("invalid dimension"));
}

}  // namespace
}  // namespace cnnc::testing
