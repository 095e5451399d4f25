// Guest ABI v1's names and import signatures (docs/guest-abi.md), apart from
// the validator: worker threads need them too, and each worker that loads the
// validator pays for its component checks' libraries (protobufjs, jco's
// wasm-tools: ~130 ms of CPU per worker start).

export const WASI_MODULE = 'wasi_snapshot_preview1';
export const WORKD_MODULE = 'workd';
export const ALLOC_EXPORT = 'workd_alloc';

// Signatures as param letters (i = i32, I = i64) -> result letters.
export const WORKD_IMPORTS: Record<string, string> = {
  respond: 'ii>',
  status_message: 'ii>',
  metadata_get: 'iiii>i',
  metadata_set: 'iiii>',
};

/** Every WASI preview 1 function, so ordinary toolchain output links. */
export const WASI_IMPORTS: Record<string, string> = {
  args_get: 'ii>i', args_sizes_get: 'ii>i', environ_get: 'ii>i', environ_sizes_get: 'ii>i',
  clock_res_get: 'ii>i', clock_time_get: 'iIi>i',
  fd_advise: 'iIIi>i', fd_allocate: 'iII>i', fd_close: 'i>i', fd_datasync: 'i>i', fd_fdstat_get: 'ii>i',
  fd_fdstat_set_flags: 'ii>i', fd_fdstat_set_rights: 'iII>i', fd_filestat_get: 'ii>i', fd_filestat_set_size: 'iI>i',
  fd_filestat_set_times: 'iIIi>i', fd_pread: 'iiiIi>i', fd_prestat_get: 'ii>i', fd_prestat_dir_name: 'iii>i',
  fd_pwrite: 'iiiIi>i', fd_read: 'iiii>i', fd_readdir: 'iiiIi>i', fd_renumber: 'ii>i', fd_seek: 'iIii>i',
  fd_sync: 'i>i', fd_tell: 'ii>i', fd_write: 'iiii>i',
  path_create_directory: 'iii>i', path_filestat_get: 'iiiii>i', path_filestat_set_times: 'iiiiIIi>i',
  path_link: 'iiiiiii>i', path_open: 'iiiiiIIii>i', path_readlink: 'iiiiii>i', path_remove_directory: 'iii>i',
  path_rename: 'iiiiii>i', path_symlink: 'iiiii>i', path_unlink_file: 'iii>i',
  poll_oneoff: 'iiii>i', proc_exit: 'i>', proc_raise: 'i>i', sched_yield: '>i', random_get: 'ii>i',
  sock_accept: 'iii>i', sock_recv: 'iiiiii>i', sock_send: 'iiiii>i', sock_shutdown: 'ii>i',
};

/** Export names the ABI and the toolchains reserve: never taken as methods. */
export const isReservedName = (name: string) => name.startsWith('workd_') || name.startsWith('_') || name === 'memory';
