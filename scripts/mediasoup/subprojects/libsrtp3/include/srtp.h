// libsrtp 3 API on top of Debian's libsrtp 2 (libsrtp2-dev, 2.5).
//
// mediasoup >= 3.16 builds against versatica's libsrtp 3 fork, whose API
// differs from libsrtp 2 in a few places that mediasoup uses:
//   - srtp_policy_t is an opaque handle built with srtp_policy_create(),
//     srtp_policy_set_ssrc(), srtp_policy_set_profile(), srtp_policy_add_key(),
//     srtp_policy_set_allow_repeat_tx(), srtp_policy_set_window_size() and freed
//     with srtp_policy_destroy() (libsrtp 2: a plain struct filled in by hand);
//   - srtp_protect()/srtp_unprotect() and the RTCP variants take separate input
//     and output buffers with size_t lengths (libsrtp 2: in place, int*);
//   - srtp_stream_remove() (libsrtp 2: srtp_remove_stream());
//   - two more error codes, srtp_err_status_buffer_small and _cryptex_err.
// mediasoup includes <srtp.h>; this directory comes first on the include path,
// so this header is what it gets. It includes the real libsrtp 2 header with
// its policy struct renamed, then defines the libsrtp 3 names as C++ inline
// functions (overloads where the name is the same: the C functions keep their
// C linkage and signatures). mediasoup's sources are not modified.
#pragma once

#define srtp_policy_t ms_srtp2_policy_t
#include <srtp2/srtp.h>
#undef srtp_policy_t

#ifdef __cplusplus

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>

#define MS_SRTP3_COMPAT_SHIM 1

// libsrtp 3: an opaque policy handle. Here: a pointer to libsrtp 2's struct, so
// srtp_create(&session, policy) resolves to libsrtp 2's
// srtp_create(srtp_t*, const srtp_policy_t*) unchanged.
typedef ms_srtp2_policy_t* srtp_policy_t;

// Error codes that libsrtp 2 does not have (values as in libsrtp 3).
inline constexpr srtp_err_status_t srtp_err_status_buffer_small = static_cast<srtp_err_status_t>(28);
inline constexpr srtp_err_status_t srtp_err_status_cryptex_err = static_cast<srtp_err_status_t>(29);

namespace ms_srtp3_compat {
// The policy struct and the master key (key || salt, which is the layout
// libsrtp 2 expects behind policy->key) live in one allocation.
struct Policy {
  ms_srtp2_policy_t policy;
  unsigned char key[SRTP_MAX_KEY_LEN];
};

// libsrtp 2's srtp_protect_rtcp() appends the 4-byte SRTCP index, the tag and
// the MKI (its srtcp_trailer_t is private).
inline constexpr size_t max_srtcp_trailer_len = SRTP_MAX_TRAILER_LEN + 4;

inline bool fits_int(size_t len) { return len <= static_cast<size_t>(std::numeric_limits<int>::max()); }
}  // namespace ms_srtp3_compat

inline srtp_err_status_t srtp_policy_create(srtp_policy_t* policy) {
  if (policy == nullptr) return srtp_err_status_bad_param;
  auto* p = new (std::nothrow) ms_srtp3_compat::Policy();
  if (p == nullptr) return srtp_err_status_alloc_fail;
  std::memset(p, 0, sizeof(*p));
  p->policy.next = nullptr;
  *policy = &p->policy;
  return srtp_err_status_ok;
}

inline void srtp_policy_destroy(srtp_policy_t policy) {
  if (policy == nullptr) return;
  // policy is the first member of Policy (standard layout).
  auto* p = reinterpret_cast<ms_srtp3_compat::Policy*>(policy);
  std::memset(p->key, 0, sizeof(p->key));
  delete p;
}

inline srtp_err_status_t srtp_policy_set_ssrc(srtp_policy_t policy, srtp_ssrc_t ssrc) {
  if (policy == nullptr) return srtp_err_status_bad_param;
  policy->ssrc = ssrc;
  return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_profile(srtp_policy_t policy, srtp_profile_t profile) {
  if (policy == nullptr) return srtp_err_status_bad_param;
  srtp_err_status_t err = srtp_crypto_policy_set_from_profile_for_rtp(&policy->rtp, profile);
  if (err != srtp_err_status_ok) return err;
  return srtp_crypto_policy_set_from_profile_for_rtcp(&policy->rtcp, profile);
}

inline srtp_err_status_t srtp_policy_add_key(srtp_policy_t policy, const uint8_t* key, size_t key_len,
                                             const uint8_t* salt, size_t salt_len, const uint8_t* mki,
                                             size_t mki_len) {
  if (policy == nullptr || key == nullptr || (salt == nullptr && salt_len != 0)) {
    return srtp_err_status_bad_param;
  }
  // MKI is not used by mediasoup; libsrtp 2 would need srtp_master_key_t arrays.
  if (mki != nullptr || mki_len != 0) return srtp_err_status_bad_param;
  auto* p = reinterpret_cast<ms_srtp3_compat::Policy*>(policy);
  if (key_len + salt_len > sizeof(p->key)) return srtp_err_status_bad_param;
  std::memcpy(p->key, key, key_len);
  if (salt_len != 0) std::memcpy(p->key + key_len, salt, salt_len);
  policy->key = p->key;
  return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_allow_repeat_tx(srtp_policy_t policy, bool allow) {
  if (policy == nullptr) return srtp_err_status_bad_param;
  policy->allow_repeat_tx = allow ? 1 : 0;
  return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_policy_set_window_size(srtp_policy_t policy, size_t window_size) {
  if (policy == nullptr) return srtp_err_status_bad_param;
  policy->window_size = window_size;
  return srtp_err_status_ok;
}

inline srtp_err_status_t srtp_stream_remove(srtp_t session, uint32_t ssrc) {
  return srtp_remove_stream(session, ssrc);
}

// libsrtp 3: protect from `in` into `out` (*out_len: capacity in, length out).
// libsrtp 2 works in place and may append up to SRTP_MAX_TRAILER_LEN bytes.
inline srtp_err_status_t srtp_protect(srtp_t ctx, const uint8_t* rtp, size_t rtp_len, uint8_t* srtp,
                                      size_t* srtp_len, size_t mki_index) {
  if (mki_index != 0) return srtp_err_status_bad_mki;
  if (rtp == nullptr || srtp == nullptr || srtp_len == nullptr) return srtp_err_status_bad_param;
  if (*srtp_len < rtp_len + SRTP_MAX_TRAILER_LEN || !ms_srtp3_compat::fits_int(*srtp_len)) return srtp_err_status_buffer_small;
  if (srtp != rtp) std::memmove(srtp, rtp, rtp_len);
  int len = static_cast<int>(rtp_len);
  const srtp_err_status_t err = srtp_protect(ctx, static_cast<void*>(srtp), &len);
  if (err == srtp_err_status_ok) *srtp_len = static_cast<size_t>(len);
  return err;
}

inline srtp_err_status_t srtp_unprotect(srtp_t ctx, const uint8_t* srtp, size_t srtp_len, uint8_t* rtp,
                                        size_t* rtp_len) {
  if (rtp == nullptr || srtp == nullptr || rtp_len == nullptr) return srtp_err_status_bad_param;
  if (*rtp_len < srtp_len || !ms_srtp3_compat::fits_int(srtp_len)) return srtp_err_status_buffer_small;
  if (rtp != srtp) std::memmove(rtp, srtp, srtp_len);
  int len = static_cast<int>(srtp_len);
  const srtp_err_status_t err = srtp_unprotect(ctx, static_cast<void*>(rtp), &len);
  if (err == srtp_err_status_ok) *rtp_len = static_cast<size_t>(len);
  return err;
}

inline srtp_err_status_t srtp_protect_rtcp(srtp_t ctx, const uint8_t* rtcp, size_t rtcp_len, uint8_t* srtcp,
                                           size_t* srtcp_len, size_t mki_index) {
  if (mki_index != 0) return srtp_err_status_bad_mki;
  if (rtcp == nullptr || srtcp == nullptr || srtcp_len == nullptr) return srtp_err_status_bad_param;
  if (*srtcp_len < rtcp_len + ms_srtp3_compat::max_srtcp_trailer_len || !ms_srtp3_compat::fits_int(*srtcp_len)) {
    return srtp_err_status_buffer_small;
  }
  if (srtcp != rtcp) std::memmove(srtcp, rtcp, rtcp_len);
  int len = static_cast<int>(rtcp_len);
  const srtp_err_status_t err = srtp_protect_rtcp(ctx, static_cast<void*>(srtcp), &len);
  if (err == srtp_err_status_ok) *srtcp_len = static_cast<size_t>(len);
  return err;
}

inline srtp_err_status_t srtp_unprotect_rtcp(srtp_t ctx, const uint8_t* srtcp, size_t srtcp_len, uint8_t* rtcp,
                                             size_t* rtcp_len) {
  if (rtcp == nullptr || srtcp == nullptr || rtcp_len == nullptr) return srtp_err_status_bad_param;
  if (*rtcp_len < srtcp_len || !ms_srtp3_compat::fits_int(srtcp_len)) return srtp_err_status_buffer_small;
  if (rtcp != srtcp) std::memmove(rtcp, srtcp, srtcp_len);
  int len = static_cast<int>(srtcp_len);
  const srtp_err_status_t err = srtp_unprotect_rtcp(ctx, static_cast<void*>(rtcp), &len);
  if (err == srtp_err_status_ok) *rtcp_len = static_cast<size_t>(len);
  return err;
}

#endif  // __cplusplus
