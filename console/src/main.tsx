/** The console's entry point: its styles and the app, rendered into index.html's #app. */
import { render } from 'preact';
import { App } from './app';
import './styles.css';

const root = document.getElementById('app');
if (root) render(<App />, root);
