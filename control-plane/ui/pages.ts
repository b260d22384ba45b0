/**
 * The dashboard's pages: each a list of live fragments (fragments.ts) read through the Docker API,
 * so the first render and every live update come from the same function.
 */
import { html } from 'hono/html';
import type { DockerReads } from './docker-reads.ts';
import { eventsTable, nodesTable, pendingReasons, servicesTable, tasksTable } from './fragments.ts';

type Html = ReturnType<typeof html>;

export interface View {
  title: string;
  /** Where the page long-polls for its fragments. */
  livePath: string;
  /** Rendered around the fragments, once: what does not change while the page is open. */
  intro?: Html;
  fragments: Record<string, Html>;
}

const EVENTS_WINDOW_MS = 60 * 60 * 1000;

const byId = <T extends { ID: string }>(items: T[], name: (i: T) => string) => new Map(items.map((i) => [i.ID, name(i)]));

export async function overview(reads: DockerReads, now: number): Promise<View> {
  const [nodes, services, tasks] = await Promise.all([reads.nodes(), reads.services(), reads.tasks()]);
  const names = byId(services, (s) => s.Spec.Name);
  const hosts = byId(nodes, (n) => n.Description.Hostname);
  return {
    title: 'Overview',
    livePath: '/ui/live/overview',
    fragments: {
      nodes: nodesTable(nodes, tasks),
      services: servicesTable(services, tasks),
      tasks: tasksTable(tasks, names, hosts, now),
    },
  };
}

export async function servicePage(reads: DockerReads, ref: string, now: number): Promise<View> {
  const service = await reads.service(ref);
  const [nodes, tasks] = await Promise.all([reads.nodes(), reads.tasks(service.ID)]);
  const names = new Map([[service.ID, service.Spec.Name]]);
  const hosts = byId(nodes, (n) => n.Description.Hostname);
  return {
    title: `Service ${service.Spec.Name}`,
    livePath: `/ui/live/services/${service.ID}`,
    intro: html`<h2>Logs</h2><pre id="logs" data-follow="/ui/services/${service.ID}/logs" tabindex="0" aria-label="Logs of ${service.Spec.Name}, following">waiting for logs…</pre>`,
    fragments: {
      pending: pendingReasons(tasks),
      tasks: tasksTable(tasks, names, hosts, now, 'Tasks by slot, with their history'),
      spec: html`<h2>Spec <small>(version ${service.Version.Index})</small></h2><pre tabindex="0">${JSON.stringify(service.Spec, null, 2)}</pre>`,
    },
  };
}

export async function eventsPage(reads: DockerReads, now: number): Promise<View> {
  return { title: 'Events', livePath: '/ui/live/events', fragments: { events: eventsTable(await reads.recentEvents(now, EVENTS_WINDOW_MS), now) } };
}

function layout(title: string, clusterName: string | undefined, body: Html): Html {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · swarmlet</title><link rel="stylesheet" href="/ui/assets/app.css"><script src="/ui/assets/app.js" defer></script></head>
<body><a class="skip" href="#main">Skip to content</a>
<header><strong>swarmlet${clusterName ? html` · ${clusterName}` : ''}</strong>${
    clusterName
      ? html`<nav aria-label="Main"><a href="/ui">Overview</a><a href="/ui/events">Events</a></nav><form method="post" action="/ui/sign-out"><button type="submit">Sign out</button></form>`
      : ''
  }</header>
${body}</body></html>`;
}

export function viewPage(view: View, clusterName: string, index: number): Html {
  const parts = Object.entries(view.fragments).map(([id, fragment]) => html`<section id="${id}" aria-live="polite">${fragment}</section>`);
  return layout(
    view.title,
    clusterName,
    html`<main id="main" data-live="${view.livePath}" data-index="${index}"><h1>${view.title}</h1>${parts}${view.intro ?? ''}</main>`,
  );
}

export function signInPage(error?: string): Html {
  return layout(
    'Sign in',
    undefined,
    html`<main id="main"><h1>Sign in</h1>
<form class="sign-in" method="post" action="/ui/sign-in">
<label for="api-key">API key of your cluster</label>
<input id="api-key" name="apiKey" type="password" autocomplete="current-password" required${error ? html` aria-invalid="true" aria-describedby="sign-in-error"` : ''}>
${error ? html`<p id="sign-in-error" class="error" role="alert">${error}</p>` : ''}
<button type="submit">Sign in</button></form></main>`,
  );
}

/** A refusal a person reads: what was wrong, and the way back. */
export function errorPage(message: string, clusterName: string | undefined): Html {
  return layout(
    'Not shown',
    clusterName,
    html`<main id="main"><h1>Not shown</h1><p role="alert">${message}</p><p><a href="/ui">Back to the overview</a></p></main>`,
  );
}
