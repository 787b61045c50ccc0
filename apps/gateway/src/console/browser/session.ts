// The API key lives in sessionStorage only (gone when the tab closes); the playground reads the same entry.
const KEY = 'switchyard.apiKey';

export const readKey = (): string | null => sessionStorage.getItem(KEY);
export const saveKey = (key: string): void => sessionStorage.setItem(KEY, key.trim());
export const clearKey = (): void => sessionStorage.removeItem(KEY);
