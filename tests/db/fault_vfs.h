// A SQLite VFS that wraps the default one and injects write/sync failures on demand, so tests can
// make the ledger's disk fail (full, I/O error) without root, a tiny filesystem or timing games.
// Registered as the process default VFS by install(); every connection opened afterwards uses it.
// Thread-safe: the failure switches are atomics.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <string>

namespace keymgr::db::testing {

class FaultVfs {
 public:
  // Which writes fail: writes (xWrite) and/or syncs (xSync) of files whose name ends in `suffix`.
  static inline std::atomic<int> write_error{SQLITE_OK};
  static inline std::atomic<int> sync_error{SQLITE_OK};
  static inline std::string suffix = "-wal";  // set before arming

  static void install() {
    static bool done = false;
    if (done) return;
    done = true;
    real_ = sqlite3_vfs_find(nullptr);
    vfs_ = *real_;
    vfs_.zName = "km_fault";
    vfs_.szOsFile = static_cast<int>(sizeof(File)) + real_->szOsFile;
    vfs_.xOpen = &open;
    vfs_.pNext = nullptr;
    sqlite3_vfs_register(&vfs_, 1);
  }
  static void disarm() {
    write_error = SQLITE_OK;
    sync_error = SQLITE_OK;
  }

 private:
  struct File {
    sqlite3_file base;
    bool targeted;
    sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
  };
  static File* f(sqlite3_file* p) { return reinterpret_cast<File*>(p); }

  static int open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* file, int flags, int* out_flags) {
    File* ff = f(file);
    std::memset(ff, 0, sizeof(File));
    int rc = real_->xOpen(real_, name, ff->real(), flags, out_flags);
    if (rc != SQLITE_OK) return rc;
    size_t n = name ? std::strlen(name) : 0;
    ff->targeted = n >= suffix.size() && std::strcmp(name + n - suffix.size(), suffix.c_str()) == 0;
    methods_ = *ff->real()->pMethods;
    methods_.xClose = [](sqlite3_file* p) { return f(p)->real()->pMethods->xClose(f(p)->real()); };
    methods_.xRead = [](sqlite3_file* p, void* b, int n, sqlite3_int64 o) {
      return f(p)->real()->pMethods->xRead(f(p)->real(), b, n, o);
    };
    methods_.xWrite = [](sqlite3_file* p, const void* b, int n, sqlite3_int64 o) {
      if (f(p)->targeted && write_error.load() != SQLITE_OK) return write_error.load();
      return f(p)->real()->pMethods->xWrite(f(p)->real(), b, n, o);
    };
    methods_.xTruncate = [](sqlite3_file* p, sqlite3_int64 s) { return f(p)->real()->pMethods->xTruncate(f(p)->real(), s); };
    methods_.xSync = [](sqlite3_file* p, int fl) {
      if (f(p)->targeted && sync_error.load() != SQLITE_OK) return sync_error.load();
      return f(p)->real()->pMethods->xSync(f(p)->real(), fl);
    };
    methods_.xFileSize = [](sqlite3_file* p, sqlite3_int64* s) { return f(p)->real()->pMethods->xFileSize(f(p)->real(), s); };
    methods_.xLock = [](sqlite3_file* p, int l) { return f(p)->real()->pMethods->xLock(f(p)->real(), l); };
    methods_.xUnlock = [](sqlite3_file* p, int l) { return f(p)->real()->pMethods->xUnlock(f(p)->real(), l); };
    methods_.xCheckReservedLock = [](sqlite3_file* p, int* r) {
      return f(p)->real()->pMethods->xCheckReservedLock(f(p)->real(), r);
    };
    methods_.xFileControl = [](sqlite3_file* p, int op, void* a) {
      return f(p)->real()->pMethods->xFileControl(f(p)->real(), op, a);
    };
    methods_.xSectorSize = [](sqlite3_file* p) { return f(p)->real()->pMethods->xSectorSize(f(p)->real()); };
    methods_.xDeviceCharacteristics = [](sqlite3_file* p) {
      return f(p)->real()->pMethods->xDeviceCharacteristics(f(p)->real());
    };
    methods_.xShmMap = [](sqlite3_file* p, int pg, int sz, int e, void volatile** pp) {
      return f(p)->real()->pMethods->xShmMap(f(p)->real(), pg, sz, e, pp);
    };
    methods_.xShmLock = [](sqlite3_file* p, int o, int n, int fl) {
      return f(p)->real()->pMethods->xShmLock(f(p)->real(), o, n, fl);
    };
    methods_.xShmBarrier = [](sqlite3_file* p) { f(p)->real()->pMethods->xShmBarrier(f(p)->real()); };
    methods_.xShmUnmap = [](sqlite3_file* p, int d) { return f(p)->real()->pMethods->xShmUnmap(f(p)->real(), d); };
    methods_.xFetch = [](sqlite3_file* p, sqlite3_int64 o, int n, void** pp) {
      return f(p)->real()->pMethods->xFetch(f(p)->real(), o, n, pp);
    };
    methods_.xUnfetch = [](sqlite3_file* p, sqlite3_int64 o, void* q) {
      return f(p)->real()->pMethods->xUnfetch(f(p)->real(), o, q);
    };
    ff->base.pMethods = &methods_;
    return SQLITE_OK;
  }

  static inline sqlite3_vfs* real_ = nullptr;
  static inline sqlite3_vfs vfs_{};
  static inline sqlite3_io_methods methods_{};  // same for every file of the unix VFS
};

}  // namespace keymgr::db::testing
