// Stand-in for ankerl/unordered_dense.h (martinus/unordered_dense), which no
// package registry reachable from this project's machines ships. mediasoup's
// worker uses only ankerl::unordered_dense::{map, set, hash}; this header maps
// them onto the standard containers with the same template parameters.
//
// Differences from the real library, none of which mediasoup relies on:
//  - iteration order is the standard containers' (the real map iterates in
//    insertion order, with swap-and-pop on erase);
//  - no values()/extract()/replace() or segmented_* containers.
// hash<T> keeps the real library's quality for integral and pointer keys (a
// 128-bit multiply-and-fold mixer, like its wyhash::hash(uint64_t)), because
// mediasoup feeds it into HashCombine() and a plain identity hash (libstdc++'s
// std::hash for integers) would combine poorly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#define ANKERL_UNORDERED_DENSE_STD_SHIM 1

namespace ankerl::unordered_dense {

namespace detail {

inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) noexcept {
  const unsigned __int128 r = static_cast<unsigned __int128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64U);
}

inline std::uint64_t hash_u64(std::uint64_t x) noexcept {
  return mix(x, UINT64_C(0x9E3779B97F4A7C15));
}

}  // namespace detail

template <class T, class Enable = void>
struct hash {
  using is_avalanching = void;
  auto operator()(const T& obj) const noexcept(noexcept(std::hash<T>{}(obj))) -> std::uint64_t {
    return detail::hash_u64(static_cast<std::uint64_t>(std::hash<T>{}(obj)));
  }
};

template <class T>
struct hash<T, std::enable_if_t<std::is_integral_v<T> || std::is_enum_v<T>>> {
  using is_avalanching = void;
  auto operator()(const T& obj) const noexcept -> std::uint64_t {
    return detail::hash_u64(static_cast<std::uint64_t>(obj));
  }
};

template <class T>
struct hash<T*> {
  using is_avalanching = void;
  auto operator()(T* ptr) const noexcept -> std::uint64_t {
    return detail::hash_u64(reinterpret_cast<std::uintptr_t>(ptr));
  }
};

template <class CharT>
struct hash<std::basic_string<CharT>> {
  using is_avalanching = void;
  using is_transparent = void;
  auto operator()(std::basic_string_view<CharT> str) const noexcept -> std::uint64_t {
    return std::hash<std::basic_string_view<CharT>>{}(str);
  }
};

template <class CharT>
struct hash<std::basic_string_view<CharT>> {
  using is_avalanching = void;
  using is_transparent = void;
  auto operator()(std::basic_string_view<CharT> str) const noexcept -> std::uint64_t {
    return std::hash<std::basic_string_view<CharT>>{}(str);
  }
};

template <class Key, class T, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Allocator = std::allocator<std::pair<const Key, T>>>
using map = std::unordered_map<Key, T, Hash, KeyEqual, Allocator>;

template <class Key, class Hash = hash<Key>, class KeyEqual = std::equal_to<Key>,
          class Allocator = std::allocator<Key>>
using set = std::unordered_set<Key, Hash, KeyEqual, Allocator>;

namespace v4 {
using ankerl::unordered_dense::hash;
using ankerl::unordered_dense::map;
using ankerl::unordered_dense::set;
}  // namespace v4

}  // namespace ankerl::unordered_dense
