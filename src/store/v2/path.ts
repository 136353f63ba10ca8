// Go's path.Clean / path.Join("/", p) / path.Split, because etcd's v2 store normalises every key with them
// and clients see the normalised key in the answer (`//a/../b` -> `/b`).

/** Go path.Clean: the shortest lexically equivalent path. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.charCodeAt(0) === 47; // '/'
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const body = out.join('/');
  if (rooted) return '/' + body;
  return body === '' ? '.' : body;
}

/** Go path.Clean(path.Join("/", p)): always absolute. */
export function storePath(p: string): string {
  return cleanPath('/' + p);
}

/** Go path.Split: dir keeps its trailing slash. */
export function splitPath(p: string): { dir: string; name: string } {
  const i = p.lastIndexOf('/');
  return { dir: p.slice(0, i + 1), name: p.slice(i + 1) };
}

/** The components of a clean absolute path ("/" -> []). */
export function pathComponents(cleanAbs: string): string[] {
  return cleanAbs === '/' ? [] : cleanAbs.slice(1).split('/');
}

/** Go path.Join(dir, name) for a clean absolute dir and one component. */
export function joinChild(dir: string, name: string): string {
  return dir === '/' ? '/' + name : dir + '/' + name;
}
